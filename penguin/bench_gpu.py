"""The GPU acceptance suite: `python -m penguin.bench gpu [--out bench_gpu.json] [--quick] [--budget S]`.

Every check that needs CUDA, run on one GPU in one command, written to one JSON file. Run it in a
source checkout installed with `pip install -e .` (the first check runs `tests/test_render.py`).
On a machine without CUDA the command checks its arguments, then prints
`error: bench gpu needs a CUDA device (found none); run it on a GPU machine` and exits 2.

**The checks**, in running order (each fails when the last sentence of its paragraph says):

- `render_cuda_equals_cpu`: `pytest -m gpu -q tests/test_render.py` in a subprocess, and the
  largest pixel difference between CUDA and CPU renders of the same 64 control-set views (whole
  rooms and zooms up to 21×, with the line to the gold, the corners and an overlay line) at 64 and
  224 px (`max_abs_diff`). Fails when the test does not pass (a skip is not a pass; without pytest
  installed the comparison alone decides) or a difference exceeds 1e-4, the test's tolerance.
- `render_throughput`: `bench game --device cuda` (batch 4,096 at 64 px and 1,024 at 224 px, 1 s
  per row, scene sampling on one CPU thread): images (pairs) per second for every row;
  `bare224_meets_target` compares bare 224 px with the 200,000 img/s target. Fails if it raises.
- `resume`: `last.ckpt` resume on CUDA. `small64` on `side_qa`, `arrow` and `near_gold_qa`
  (eager, bf16-mixed, `trainer.deterministic warn`, validation every 10 steps) runs 25 steps, then
  `--ckpt_path last` to 50, against an uninterrupted 50-step run: `verdict` is `bitwise_equal`,
  `within_bf16_tolerance` or `differs` (see `compare_checkpoints`); `max_train_loss_diff` compares
  the step losses before the resume (the GPU's own run-to-run noise) and after it. Fails when the
  step counts or the data stream position differ, or a parameter differs beyond bf16 tolerance.
- `fit_compile`: `python -m penguin.fit` of `small64` on every task with `model.compile true`,
  bf16-mixed, batch 64, 300 steps, validation every 100: wall time, steps/s after warm-up, and
  torch._dynamo's counts (`dynamo_counts`) after warm-up — the end of the first validation, by
  when every task and the no-grad validation graphs have run — and at the end.
  `recompiles_after_warmup` is the growth of `frames_compiled` since then; `recompile_storm` is
  true when dynamo hit its recompile limit or recompiled at least `recompile_limit` times after
  warm-up; `compile_steps` lists the steps at which frames were compiled, `graph_break_reasons`
  why graphs broke, `cache_entries` the compiled variants per function (`max_cache_entries`
  against `recompile_limit` is the headroom left before a new variant falls back to eager). Fails when the fit does not finish its steps, or dynamo hit its recompile
  limit (the code then runs eagerly, with only a log warning).
- `train_throughput`: `bench train` for `small64` (batch 64) and `seed224` (batch 100) in bf16
  autocast, eager then `torch.compile`, on `side_qa` and `arrow` in turn (a question step, and a
  two-step episode with canvases), 20 timed steps after 2 rounds of warm-up: samples/s, model
  TFLOP/s and MFU against the GPU's bf16 peak, peak memory allocated (reset between runs), the
  data's share of step time, and wall seconds including compilation; `compile_speedup` per
  preset. Fails when a run raises or is not started within the budget.
- `gpu_temperature`: the GPU's temperature through the throttle's own sensor
  (`callbacks.temperature.nvml_sensor`: NVML, the device found by UUID) before and after the fit
  and now, and `system/gpu_temp` as the fit's `TemperatureThrottle` (polling every 10 steps)
  wrote it to TensorBoard. Fails when no reading can be taken now, or the fit ran and logged none.

`--quick` shrinks every check for a smoke run: 0.2 s per render row at a quarter of the batch,
4 timed training steps after 1 warm-up round, a 30-step fit validating every 10, a resume of 8 + 10
steps validating every 6. Compilation still takes its time.

**Budget.** The suite starts no check once `--budget` seconds (default 480, 8 minutes) have
passed since it started; those are recorded as skipped. Inside a check, `train_throughput` starts
no run past the budget, and `fit_compile` passes `--trainer.max_time` = the time left less 60 s
(for the eager training runs after it), so a slow compile shortens the fit instead of overrunning.
A check that has started is not interrupted.

**The JSON file** is rewritten (atomically: a temporary file renamed over it) before each check,
with that check's status `running`, after each training run, and after each check, so a run
killed midway keeps every finished check and shows which one was running. `status` is `ok`,
`failed` (with `error`, the first line of what went wrong) or `skipped` (with `note`); a failed
check keeps every number it had measured. Times are seconds, memory GiB, temperatures °C.
For example (abridged):

    {"command": "python -m penguin.bench gpu --out bench_gpu.json", "date": "2026-12-01T15:04:05Z",
     "commit": "430ab52…", "dirty": false, "quick": false, "budget_s": 480.0,
     "machine": {"host": "gpu-7", "cpu": "AMD EPYC 9654", "cores": 16, "python": "3.11.7",
                 "gpu": "NVIDIA H200", "gpu_memory_GiB": 139.8, "gpu_count": 1,
                 "torch": "2.13.0+cu128", "cuda": "12.8", "cudnn": 91000, "lightning": "2.6.6"},
     "elapsed_s": 431.2, "finished": true,
     "checks": {
       "render_cuda_equals_cpu": {"status": "ok", "pytest": {"returncode": 0, "summary": "1 passed, 19 deselected …"},
                                  "max_abs_diff": {"64": 0.0, "224": 5.9e-08}, "atol": 0.0001, "seconds": 9.8},
       "render_throughput": {"status": "ok", "rows": {"bare224": {"render_per_s": 310000.0, …}, …},
                             "bare224_meets_target": true, "seconds": 14.0},
       "resume": {"status": "ok", "verdict": "within_bf16_tolerance", "max_abs_diff": 3.1e-05,
                  "global_step": [50, 50], "max_train_loss_diff": {"before_resume": 0.0, "after_resume": 2e-06}, …},
       "fit_compile": {"status": "ok", "steps_done": 300, "wall_s": 150.2, "steps_per_s_after_warmup": 9.1,
                       "dynamo_after_warmup": {"frames_compiled": 36, "graphs": 19, "graph_breaks": 18, …},
                       "dynamo_at_end": {…}, "recompiles_after_warmup": 0, "recompile_limit": 8,
                       "recompile_limit_hits": 0, "recompile_storm": false, "compile_steps": [1, 2, 4, 6, 101],
                       "cache_entries": {"torch_dynamo_resume_in_perceive_at_136 (brain.py:136)": 7, …},
                       "max_cache_entries": 7, …},
       "train_throughput": {"status": "failed",
                            "error": "1 of 4 runs not ok: seed224/compile: OutOfMemoryError: CUDA out of memory. …",
                            "runs": {"small64/eager": {"status": "ok", "samples_per_s": 2400.0, "mfu": 0.04,
                                                       "peak_memory_GiB": 3.1, "wall_s": 21.0, …}, …},
                            "compile_speedup": {"small64": 1.6}, "seconds": 190.3},
       "gpu_temperature": {"status": "ok", "now": {"celsius": 41.0, "slowdown_celsius": 87.0}, …}}}

The exit status is 0 when every check is ok, 1 otherwise, 2 for a bad argument or no CUDA.
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.util
import io
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import lightning as L
import torch

from penguin import bench

REPO = Path(__file__).resolve().parents[1]
RENDER_ATOL = 1e-4  # tests/test_render.py::test_cuda_matches_cpu
RENDER_TARGET_224 = 200_000.0  # bare 224-px images per second on a GPU (bench/RESULTS.md)
BF16_RTOL, BF16_ATOL = 1.6e-2, 1e-5  # torch.testing.assert_close's defaults for bfloat16
FIT_RESERVE_S = 60.0  # of the budget, kept by fit_compile for the checks after it (the eager training runs)
RESUME_TASKS = "[side_qa, arrow, near_gold_qa]"  # a question task, a two-step image task, a balanced one
NO_CUDA = "bench gpu needs a CUDA device (found none); run it on a GPU machine"


class CheckFailed(Exception):
    """A check ran but its result is not acceptable; the message says why, in one line."""


@dataclass(frozen=True)
class Plan:
    """What each check runs (the module table). `FULL` is the default, `QUICK` is `--quick`."""

    device: str = "cuda"
    game_seconds: float = 1.0
    game_batch_64: int = 4096
    game_batch_224: int = 1024
    train_runs: tuple[tuple[str, int], ...] = (("small64", 64), ("seed224", 100))  # (preset, batch)
    train_compile: tuple[bool, ...] = (False, True)
    train_tasks: tuple[str, ...] = ("side_qa", "arrow")
    train_steps: int = 20
    train_warmup: int = 2  # rounds over train_tasks
    fit_preset: str = "small64"
    fit_batch: int = 64
    fit_precision: str = "bf16-mixed"
    fit_val_batches: int = 2  # per task, for every fit of the suite
    fit_steps: int = 300
    fit_val_every: int = 100
    resume_steps: tuple[int, int] = (25, 25)  # N, then M more
    resume_val_every: int = 10


FULL = Plan()
QUICK = replace(FULL, game_seconds=0.2, game_batch_64=1024, game_batch_224=256, train_steps=4, train_warmup=1,
                fit_steps=30, fit_val_every=10, resume_steps=(8, 10), resume_val_every=6)


@dataclass
class Context:
    """What a check may use besides its plan: the time left, the records of earlier checks, and
    `save()`, which writes the report now (a check with parts calls it after each)."""

    plan: Plan
    deadline: float
    results: Mapping[str, dict] = field(default_factory=dict)
    save: Callable[[], None] = lambda: None

    def left(self) -> float:
        return self.deadline - _clock()


_clock = time.monotonic  # the suite's clock (tests replace it)


# ---------------------------------------------------------------------------- command
def run(args: argparse.Namespace) -> int:
    """`python -m penguin.bench gpu`: check the arguments, then CUDA, then run the suite."""
    out = Path(args.out).expanduser()
    if out.is_dir():
        raise ValueError(f"--out {args.out}: is a folder; give a file name, e.g. {out / 'bench_gpu.json'}")
    folder = out.parent
    if not folder.is_dir():
        raise ValueError(f"--out {args.out}: the folder {folder} does not exist; create it first")
    if not os.access(folder, os.W_OK):
        raise ValueError(f"--out {args.out}: cannot write in {folder}")
    if not (math.isfinite(args.budget) and args.budget > 0):
        raise ValueError(f"--budget: expected a positive number of seconds, got {args.budget:g}")
    if not torch.cuda.is_available():
        raise ValueError(NO_CUDA)
    header = {"command": args.command_line, **machine(), "quick": args.quick}
    report = run_suite(CHECKS, QUICK if args.quick else FULL, out, args.budget, header)
    print(f"wrote {out}")
    return 0 if all(r["status"] == "ok" for r in report["checks"].values()) else 1


def machine() -> dict[str, Any]:
    """The report's header: date (UTC), git commit of the checkout, and the machine."""
    props = torch.cuda.get_device_properties(torch.cuda.current_device())
    return {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **_git_state(),
        "machine": {"host": platform.node(), "cpu": bench._cpu_model(), "cores": os.cpu_count(),
                    "python": platform.python_version(), "gpu": props.name,
                    "gpu_memory_GiB": round(props.total_memory / 2**30, 1), "gpu_count": torch.cuda.device_count(),
                    "torch": torch.__version__, "cuda": torch.version.cuda,
                    "cudnn": torch.backends.cudnn.version(), "lightning": L.__version__},
    }


def _git_state() -> dict[str, Any]:
    """`commit` (None outside a git checkout) and `dirty` (tracked files changed since it)."""
    def git(*command: str) -> str | None:
        try:
            done = subprocess.run(["git", *command], cwd=REPO, capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    changes = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": bool(changes) if changes is not None else None}


# ---------------------------------------------------------------------------- suite
def run_suite(checks: Mapping[str, Callable[[Context, dict], None]], plan: Plan, out: Path, budget: float,
              header: Mapping[str, Any]) -> dict:
    """Run `checks` in order, each filling its own record, and keep `out` up to date (the module
    docstring says how). A check raises to fail; what it recorded before stays."""
    start = _clock()
    results: dict[str, dict] = {name: {"status": "pending"} for name in checks}
    report = {**header, "budget_s": budget, "elapsed_s": 0.0, "finished": False, "checks": results}
    for name, check in checks.items():
        spent = _clock() - start
        if spent >= budget:
            note = f"not started: {spent:.0f} s of the {budget:g} s budget spent"
            results[name] = {"status": "skipped", "note": note}
            print(f"{name:<24}skipped  ({note})", flush=True)
            continue
        record = results[name] = {"status": "running"}
        _write(out, report, start)
        began = _clock()
        try:
            check(Context(plan, start + budget, results, lambda: _write(out, report, start)), record)
            record["status"] = "ok"
        except Exception as e:  # one check's failure must not lose the others' numbers
            record["status"], record["error"] = "failed", _first_line(e)
        record["seconds"] = round(_clock() - began, 1)
        print(f"{name:<24}{record['status']:<9}{record['seconds']:>7.1f} s  {record.get('error', '')}", flush=True)
        _write(out, report, start)
    report["finished"] = True
    _write(out, report, start)
    return report


def _write(out: Path, report: dict, start: float) -> None:
    report["elapsed_s"] = round(_clock() - start, 1)
    partial = out.with_name(out.name + ".partial")
    partial.write_text(json.dumps(report, indent=1, default=str) + "\n")  # default: never lose a run to a stray value
    os.replace(partial, out)


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    text = lines[0] if lines else ""
    return text if isinstance(error, CheckFailed) else f"{type(error).__name__}: {text}".rstrip(": ")


# ---------------------------------------------------------------------------- render
def check_render_cuda_equals_cpu(context: Context, record: dict) -> None:
    from penguin.game.control import sample_control
    from penguin.game.render import render

    test = REPO / "tests" / "test_render.py"
    if not test.is_file():
        record["pytest"] = {"returncode": None, "summary": f"{test} not found (not a source checkout)"}
    elif importlib.util.find_spec("pytest") is None:
        record["pytest"] = {"returncode": None, "summary": "pytest is not installed (pip install -e '.[test]')"}
    else:
        done = subprocess.run([sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider", str(test)],
                              cwd=REPO, capture_output=True, text=True, timeout=300)
        lines = [line for line in done.stdout.splitlines() if line.strip()]
        summary = lines[-1] if lines else done.stderr.strip()[-300:]  # no summary: pytest did not start
        record["pytest"] = {"returncode": done.returncode, "summary": summary}

    device = torch.device(context.plan.device)
    views = sample_control(torch.Generator().manual_seed(0), 64)
    options = dict(zoom_center=views.zoom_center, zoom_factor=views.zoom_factor, line_to_gold=True, corners=True,
                   line_angle=torch.linspace(0, 6, 64), line_length=torch.full((64,), 0.2))
    on_device = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in options.items()}
    record["max_abs_diff"], record["atol"] = {}, RENDER_ATOL
    for size in (64, 224):
        cpu = render(views.scene, size, **options)
        there = render(views.scene.to(device), size, **on_device)
        record["max_abs_diff"][str(size)] = float((there.cpu() - cpu).abs().max())

    code, summary = record["pytest"]["returncode"], record["pytest"]["summary"]
    if code is not None and (code != 0 or "passed" not in summary or "skipped" in summary):
        raise CheckFailed(f"pytest -m gpu tests/test_render.py: {summary}")
    worst = max(record["max_abs_diff"].values())
    if worst > RENDER_ATOL:
        raise CheckFailed(f"CUDA and CPU renders differ by up to {worst:.3g} (tolerance {RENDER_ATOL:g})")


def check_render_throughput(context: Context, record: dict) -> None:
    plan = context.plan
    args = _bench_args("game", "--device", plan.device, "--threads", "1", "--seconds", str(plan.game_seconds),
                       "--batch-64", str(plan.game_batch_64), "--batch-224", str(plan.game_batch_224))
    threads = torch.get_num_threads()
    try:
        report = bench.game_report(args)
    finally:
        torch.set_num_threads(threads)  # the checks after this one build batches with every core
    rows = report["results"]["threads=1"]
    record.update(command=args.command_line, batch=report["batch"], seconds_per_row=plan.game_seconds, rows=rows,
                  bare224_target_per_s=RENDER_TARGET_224,
                  bare224_meets_target=rows["bare224"]["render_per_s"] >= RENDER_TARGET_224)


# ---------------------------------------------------------------------------- training throughput
TRAIN_FIELDS = ("samples_per_s", "mfu", "tflops_per_s", "peak_memory_GiB", "data_share", "parameters_M",
                "per_task_samples_per_s")


def check_train_throughput(context: Context, record: dict) -> None:
    plan = context.plan
    runs = record["runs"] = {}
    for compiled in plan.train_compile:  # every eager run first: compiling may take the rest of the budget
        for preset, batch in plan.train_runs:
            key = f"{preset}/{'compile' if compiled else 'eager'}"
            if context.left() <= 0:
                runs[key] = {"status": "skipped", "note": "not started: the budget was spent"}
                continue
            args = _bench_args("train", "--preset", preset, "--tasks", *plan.train_tasks, "--batch", str(batch),
                               "--steps", str(plan.train_steps), "--warmup", str(plan.train_warmup),
                               "--device", plan.device, "--precision", "bf16", *(["--compile"] if compiled else []))
            _release_device_memory()
            began = _clock()
            try:
                report = bench.train_report(args)
            except Exception as e:  # one run's failure (out of memory, a compile error) keeps the others
                runs[key] = {"status": "failed", "command": args.command_line, "error": _first_line(e)}
                continue
            runs[key] = {"status": "ok", "command": args.command_line, **{f: report[f] for f in TRAIN_FIELDS},
                         "wall_s": round(_clock() - began, 1)}
            context.save()
    _release_device_memory()
    record["compile_speedup"] = {
        preset: runs[f"{preset}/compile"]["samples_per_s"] / runs[f"{preset}/eager"]["samples_per_s"]
        for preset, _ in plan.train_runs
        if runs.get(f"{preset}/compile", {}).get("status") == runs.get(f"{preset}/eager", {}).get("status") == "ok"}
    bad = [key for key, run_ in runs.items() if run_["status"] != "ok"]
    if bad:
        first = runs[bad[0]]
        raise CheckFailed(f"{len(bad)} of {len(runs)} runs not ok: {bad[0]}: {first.get('error') or first['note']}")


def _bench_args(*argv: str) -> argparse.Namespace:
    """`python -m penguin.bench` arguments parsed as the command line would be."""
    args = bench.build_parser().parse_args(list(argv))
    args.command_line = "python -m penguin.bench " + " ".join(argv)
    return args


def _release_device_memory() -> None:
    """Drop compiled graphs (they hold the last brain) and cached blocks, and reset the peak."""
    import torch._dynamo

    torch._dynamo.reset()
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


# ---------------------------------------------------------------------------- fit and compile counts
def check_fit_compile(context: Context, record: dict) -> None:
    from torch._dynamo.utils import counters

    plan = context.plan
    _release_device_memory()
    counters.clear()
    max_time = context.left() - FIT_RESERVE_S
    if max_time < 60:
        raise CheckFailed(f"only {context.left():.0f} s of the budget left; the fit needs more than a minute")
    with tempfile.TemporaryDirectory(prefix="penguin_bench_gpu_") as root:
        timeline_file = Path(root) / "timeline.json"
        args = ["--name", "fit_compile", *_fit_args(plan, root), "--data.tasks", "all", "--model.compile", "true",
                "--trainer.max_steps", str(plan.fit_steps), "--trainer.val_check_interval", str(plan.fit_val_every),
                "--trainer.max_time", _max_time(max_time), *_timeline_args(timeline_file)]
        record["command"] = "python -m penguin.fit " + " ".join(args)
        record["gpu_temp_before"] = _try_temperature(plan.device)
        began = _clock()
        try:
            _fit(args)
        finally:  # a fit that failed midway still tells how far it got
            record["wall_s"] = round(_clock() - began, 1)
            record["gpu_temp_after"] = _try_temperature(plan.device)
            record["gpu_temp_logged"] = _readings(logged_scalars(Path(root) / "fit_compile", "system/gpu_temp"))
            if timeline_file.is_file():
                record.update(summarise_fit(json.loads(timeline_file.read_text()), dynamo_counts()))
            record["cache_entries"] = entries = cache_entries()
            record["max_cache_entries"] = max(entries.values(), default=0) if entries is not None else None
    if record.get("steps_done", 0) < plan.fit_steps:
        raise CheckFailed(f"the fit stopped at step {record.get('steps_done', 0)} of {plan.fit_steps} "
                          "(the time budget)")
    if record["recompile_limit_hits"]:
        raise CheckFailed(f"torch._dynamo hit its recompile limit ({record['recompile_limit']}) "
                          f"{record['recompile_limit_hits']} times: that code ran eagerly from then on")


def summarise_fit(timeline: dict, end: dict[str, int]) -> dict[str, Any]:
    """The `fit_compile` numbers from a `FitTimeline` file and the dynamo counts at the end."""
    import torch._dynamo

    done = timeline["steps"][-1][0] if timeline["steps"] else 0
    warm = timeline["validations"][0] if timeline["validations"] else None
    limit = torch._dynamo.config.recompile_limit
    compiled = [0] + [event["frames_compiled"] for event in timeline["compiles"]]
    grew = [event["step"] for i, event in enumerate(timeline["compiles"]) if compiled[i + 1] > compiled[i]]
    summary: dict[str, Any] = {
        "steps_done": done,
        "seconds_to_first_step": timeline["steps"][0][1] if timeline["steps"] else None,
        "warmup": "the end of the first validation" if warm else "no validation ran: no warm-up point",
        "dynamo_after_warmup": {k: warm[k] for k in end} if warm else None,
        "dynamo_at_end": end,
        "recompiles_after_warmup": end["frames_compiled"] - warm["frames_compiled"] if warm else None,
        "recompile_limit": limit,
        "recompile_limit_hits": end["recompile_limit_hits"],
        "compile_steps": grew[:50],
        "graph_break_reasons": graph_break_reasons(),
    }
    summary["recompile_storm"] = bool(end["recompile_limit_hits"]) or (
        warm is not None and summary["recompiles_after_warmup"] >= limit)
    if warm and done > warm["step"]:
        summary["steps_per_s_after_warmup"] = (done - warm["step"]) / (timeline["steps"][-1][1] - warm["t"])
    return summary


def dynamo_counts() -> dict[str, int]:
    """torch._dynamo's counts since its counters were cleared (`torch._dynamo.utils.counters`):

    - `frames_compiled`: frames converted (`frames.ok`): the first compile of each function, each
      recompile, and each resume function after a graph break — growth after warm-up is recompiles;
    - `frames_failed`: conversions that raised (`frames.total − frames.ok`);
    - `graphs`: FX graphs produced (`stats.unique_graphs`);
    - `graph_breaks`: the entries of `graph_break` (breaks dynamo compiled a partial graph around)
      plus those of `unimplemented` (breaks on a jump, such as `if tensor.any():`, and frames it
      gave up on), less the recompile-limit ones;
    - `recompile_limit_hits`: the times a function exceeded `torch._dynamo.config.recompile_limit`
      (or the accumulated limit); from then on it runs eagerly, with only a log warning.
    """
    from torch._dynamo.utils import counters

    hits = sum(n for reason, n in counters["unimplemented"].items() if _is_limit(reason))
    breaks = sum(counters["graph_break"].values()) + sum(counters["unimplemented"].values()) - hits
    frames = counters["frames"]
    return {"frames_compiled": frames["ok"], "frames_failed": frames["total"] - frames["ok"],
            "graphs": counters["stats"]["unique_graphs"], "graph_breaks": breaks, "recompile_limit_hits": hits}


def graph_break_reasons(top: int = 10) -> dict[str, int]:
    """The most frequent graph-break reasons (first line of each) with their counts."""
    from torch._dynamo.utils import counters

    reasons: dict[str, int] = {}
    for category in ("graph_break", "unimplemented"):
        for reason, n in counters[category].items():
            if not _is_limit(reason):
                line = reason.strip().splitlines()[0] if reason.strip() else "?"
                reasons[line] = reasons.get(line, 0) + n
    return dict(sorted(reasons.items(), key=lambda item: -item[1])[:top])


def cache_entries(top: int = 10) -> dict[str, int] | None:
    """Compiled variants (cache entries) per function dynamo has compiled, most first, named
    `name (file:line)` (resume functions after a graph break too): a function holding
    `recompile_limit` entries compiles no new variant — the next one runs eagerly. None where
    this torch lacks the private hooks it reads (`convert_frame.input_codes`,
    `eval_frame._debug_get_cache_entry_list`)."""
    try:
        from torch._dynamo.convert_frame import input_codes
        from torch._dynamo.eval_frame import _debug_get_cache_entry_list
    except ImportError:
        return None
    counts: dict[str, int] = {}
    for ref in list(input_codes.seen):
        code = ref()
        entries = len(_debug_get_cache_entry_list(code)) if code is not None else 0
        if entries:
            name = f"{code.co_name} ({Path(code.co_filename).name}:{code.co_firstlineno})"
            counts[name] = max(counts.get(name, 0), entries)
    return dict(sorted(counts.items(), key=lambda item: -item[1])[:top])


def _is_limit(reason: str) -> bool:
    return "recompile limit" in reason.lower().split("\n", 1)[0]


class FitTimeline(L.Callback):
    """What a fit did, step by step, written to `path` (JSON) when the fit ends or fails:

    - `steps`: `[steps done, seconds since the fit started, train loss]` after every optimizer step;
    - `compiles`: `{"step", **dynamo_counts()}` whenever torch._dynamo's counts changed;
    - `validations`: `{"step", "t", **dynamo_counts()}` at the end of each validation.

    Given to `penguin.fit` as `--trainer.callbacks+=penguin.bench_gpu.FitTimeline
    --trainer.callbacks.path=FILE`.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._start = _clock()
        self._timeline: dict[str, list] = {"steps": [], "compiles": [], "validations": []}

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = _clock()
        self._timeline = {"steps": [], "compiles": [], "validations": []}

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        step, line = trainer.global_step, self._timeline
        loss = outputs.get("loss") if isinstance(outputs, Mapping) else outputs
        line["steps"].append([step, round(_clock() - self._start, 3), None if loss is None else float(loss)])
        counts = dynamo_counts()
        if not line["compiles"] or any(line["compiles"][-1][k] != v for k, v in counts.items()):
            line["compiles"].append({"step": step, **counts})

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._timeline["validations"].append(
                {"step": trainer.global_step, "t": round(_clock() - self._start, 3), **dynamo_counts()})

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._save()

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self._save()

    def _save(self) -> None:
        Path(self.path).write_text(json.dumps(self._timeline))


def _fit_args(plan: Plan, root: str) -> list[str]:
    """The `penguin.fit` arguments every fit of the suite shares (runs go under `root`)."""
    return ["--trainer.default_root_dir", str(root), "--model.preset", plan.fit_preset,
            "--data.batch_size", str(plan.fit_batch), "--data.val_batches", str(plan.fit_val_batches),
            "--trainer.accelerator", "gpu" if plan.device == "cuda" else "cpu", "--trainer.devices", "1",
            "--trainer.precision", plan.fit_precision, "--trainer.enable_progress_bar", "false",
            "--trainer.enable_model_summary", "false"]


def _timeline_args(path: Path) -> list[str]:
    return ["--trainer.callbacks+=penguin.bench_gpu.FitTimeline", f"--trainer.callbacks.path={path}"]


def _max_time(seconds: float) -> str:
    """Lightning's `max_time` "DD:HH:MM:SS" for `seconds` (rounded down)."""
    s = int(seconds)
    return f"{s // 86400:02d}:{s // 3600 % 24:02d}:{s // 60 % 60:02d}:{s % 60:02d}"


def _fit(args: list[str]) -> None:
    """`penguin.fit.main(args)` in this process; its one-line error, if any, becomes the failure."""
    from penguin import fit

    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            code = fit.main(args)
    finally:
        sys.stderr.write(captured.getvalue())
    if code != 0:
        errors = [line for line in captured.getvalue().splitlines() if line.startswith("error:")]
        raise CheckFailed(f"penguin.fit exited {code}: {errors[-1] if errors else 'no error line'}")


# ---------------------------------------------------------------------------- resume
def check_resume(context: Context, record: dict) -> None:
    plan = context.plan
    n, m = plan.resume_steps
    _release_device_memory()
    with tempfile.TemporaryDirectory(prefix="penguin_bench_gpu_") as root, _restored_determinism():
        common = [*_fit_args(plan, root), "--data.tasks", RESUME_TASKS,
                  "--trainer.val_check_interval", str(plan.resume_val_every), "--trainer.deterministic", "warn"]
        files = {run_: Path(root) / f"{run_}.json" for run_ in ("straight", "first", "second")}
        _fit(["--name", "straight", *common, "--trainer.max_steps", str(n + m), *_timeline_args(files["straight"])])
        _fit(["--name", "resumed", *common, "--trainer.max_steps", str(n), *_timeline_args(files["first"])])
        _fit(["--name", "resumed", *common, "--trainer.max_steps", str(n + m), "--ckpt_path", "last",
              *_timeline_args(files["second"])])
        straight, resumed = (torch.load(Path(root) / run_ / "checkpoints" / "last.ckpt", map_location="cpu",
                                        weights_only=False) for run_ in ("straight", "resumed"))
        losses = {run_: {s: loss for s, _, loss in json.loads(f.read_text())["steps"]} for run_, f in files.items()}
    record.update(steps={"first": n, "then": m}, tasks=RESUME_TASKS, compile=False, precision=plan.fit_precision,
                  deterministic="warn", **compare_checkpoints(straight, resumed))
    record["max_train_loss_diff"] = {
        "before_resume": _max_diff(losses["straight"], losses["first"]),  # the GPU's own run-to-run noise
        "after_resume": _max_diff(losses["straight"], losses["second"])}
    if record["global_step"] != [n + m, n + m] or not record["consumed_equal"]:
        raise CheckFailed(f"the resumed run is at step {record['global_step'][1]} and the straight one at "
                          f"{record['global_step'][0]}, data streams equal: {record['consumed_equal']}")
    if record["verdict"] == "differs":
        raise CheckFailed(f"{record['worst_tensor']} differs by {record['max_abs_diff']:.3g} beyond bf16 tolerance "
                          f"(rtol {BF16_RTOL}, atol {BF16_ATOL})")


def compare_checkpoints(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """How far checkpoint `b` is from `a`: `verdict` `bitwise_equal` (every tensor equal, NaN where
    the other has NaN; every other value equal), `within_bf16_tolerance` (`torch.allclose` at
    torch.testing's bfloat16 rtol 1.6e-2, atol 1e-5) or `differs`; `max_abs_diff` and the
    `worst_tensor`; both `global_step`s; `consumed_equal` (the data stream position) and
    `data_state_equal` (the data module's whole state, the task sampler's included)."""
    sa, sb = a["state_dict"], b["state_dict"]
    bitwise = close = sa.keys() == sb.keys()
    worst, worst_name = 0.0, None
    for name in sorted(sa.keys() & sb.keys()):
        x, y = sa[name], sb[name]
        if not (isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor) and x.shape == y.shape
                and x.is_floating_point() and y.is_floating_point()):
            same = _equal(x, y)  # extra state, integer buffers, a changed shape: equal or not
            bitwise, close = bitwise and same, close and same
            continue
        x, y = x.double(), y.double()
        bitwise = bitwise and torch.allclose(x, y, rtol=0, atol=0, equal_nan=True)
        close = close and torch.allclose(x, y, rtol=BF16_RTOL, atol=BF16_ATOL, equal_nan=True)
        diff = torch.where(x.isnan() & y.isnan(), 0.0, (x - y).abs()).nan_to_num(nan=math.inf)
        if diff.numel() and float(diff.max()) > worst:
            worst, worst_name = float(diff.max()), name
    data_a, data_b = a.get("TaskMixture", {}), b.get("TaskMixture", {})
    return {"verdict": "bitwise_equal" if bitwise else "within_bf16_tolerance" if close else "differs",
            "max_abs_diff": worst, "worst_tensor": worst_name, "tensors": len(sa),
            "global_step": [a.get("global_step"), b.get("global_step")],
            "consumed_equal": data_a.get("consumed") == data_b.get("consumed"),
            "data_state_equal": _equal(data_a, data_b)}


def _equal(x: Any, y: Any) -> bool:
    """`x == y` for nested plain values and tensors (tensors of one shape and dtype, compared
    exactly; NaN equals NaN)."""
    if isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor):
        if x.shape != y.shape or x.dtype != y.dtype:
            return False
        return torch.allclose(x, y, rtol=0, atol=0, equal_nan=True) if x.is_floating_point() else torch.equal(x, y)
    if isinstance(x, torch.Tensor) or isinstance(y, torch.Tensor):
        return False
    if isinstance(x, Mapping) and isinstance(y, Mapping):
        return x.keys() == y.keys() and all(_equal(x[k], y[k]) for k in x)
    if isinstance(x, (list, tuple)) and isinstance(y, (list, tuple)):
        return len(x) == len(y) and all(_equal(u, v) for u, v in zip(x, y))
    if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
        return True
    return x == y


def _max_diff(a: Mapping[int, float | None], b: Mapping[int, float | None]) -> float | None:
    """The largest |a[s] − b[s]| over the steps both have (None when they share none)."""
    diffs = [abs(a[s] - b[s]) for s in a.keys() & b.keys() if a[s] is not None and b[s] is not None]
    return max(diffs) if diffs else None


@contextlib.contextmanager
def _restored_determinism():
    """Lightning's `deterministic` sets process-wide flags and leaves them; put them back after."""
    saved = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
             torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic,
             os.environ.get("CUBLAS_WORKSPACE_CONFIG"))
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = saved[2], saved[3]
        if saved[4] is None:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
        else:
            os.environ["CUBLAS_WORKSPACE_CONFIG"] = saved[4]


# ---------------------------------------------------------------------------- temperature
def check_gpu_temperature(context: Context, record: dict) -> None:
    fit = context.results.get("fit_compile", {})
    record["sensor"] = "callbacks.temperature.nvml_sensor"
    record["before_fit"], record["after_fit"] = fit.get("gpu_temp_before"), fit.get("gpu_temp_after")
    record["logged_during_fit"] = fit.get("gpu_temp_logged")
    record["now"] = read_temperature(context.plan.device)
    if fit.get("status") in ("ok", "failed") and "gpu_temp_logged" in fit and not fit["gpu_temp_logged"]["count"]:
        raise CheckFailed("the fit logged no system/gpu_temp (penguin.fit's TemperatureThrottle polls every 10 steps)")


def read_temperature(device: str) -> dict[str, float | None]:
    """`{"celsius", "slowdown_celsius"}` of `device` now, through the throttle's sensor; raises
    `callbacks.temperature.SensorUnavailable` (one line) when NVML cannot read it."""
    from callbacks.temperature import nvml_sensor

    sensor = nvml_sensor(torch.device(device))
    try:
        return {"celsius": sensor.temperature(), "slowdown_celsius": sensor.slowdown()}
    finally:
        sensor.close()


def _try_temperature(device: str) -> dict[str, Any]:
    try:
        return read_temperature(device)
    except Exception as e:  # a reading is extra information; its absence is reported, not fatal here
        return {"error": _first_line(e)}


def logged_scalars(run: Path, tag: str) -> list[list[float]]:
    """`[step, value]` of every `tag` scalar in the TensorBoard event files of `run` (all versions)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    series = []
    for events in sorted(run.glob("version_*/events.out.tfevents.*")):
        accumulator = EventAccumulator(str(events), size_guidance={"scalars": 0})
        accumulator.Reload()
        if tag in accumulator.Tags()["scalars"]:
            series += [[event.step, event.value] for event in accumulator.Scalars(tag)]
    return series


def _readings(series: list[list[float]]) -> dict[str, Any]:
    values = [value for _, value in series]
    return {"count": len(values), "min": min(values, default=None), "max": max(values, default=None),
            "last": values[-1] if values else None, "series": series[:40]}


CHECKS: dict[str, Callable[[Context, dict], None]] = {
    "render_cuda_equals_cpu": check_render_cuda_equals_cpu,
    "render_throughput": check_render_throughput,
    "resume": check_resume,
    "fit_compile": check_fit_compile,
    "train_throughput": check_train_throughput,
    "gpu_temperature": check_gpu_temperature,
}
"""The suite, in running order: the cheap checks, then the fit (which stops in time to leave the
eager training runs theirs), the training runs (eager first), and the temperature, which reads
what the fit logged."""
