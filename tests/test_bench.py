"""`python -m penguin.bench` runs and reports what it promises (tiny settings; numbers not asserted).

`bench gpu` needs CUDA; here: its refusal and argument checks, the orchestration with fake checks
(what is written when, what the budget skips), and the parts the CUDA checks are made of that run
anywhere (dynamo's counters, the checkpoint comparison, the resume check on a CPU plan)."""
import json
import time
from dataclasses import replace

import pytest
import torch

from penguin import bench, bench_gpu


def test_game_bench_reports_every_row_as_json(capsys):
    assert bench.main(["game", "--threads", "1", "--seconds", "0.05", "--batch-64", "8", "--batch-224", "2",
                       "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    rows = report["results"]["threads=1"]
    assert set(rows) == {"bare64", "bare224", "arrow224", "control224"}
    assert all(row["render_per_s"] > 0 for row in rows.values())


def test_train_bench_reports_throughput_and_data_share(capsys):
    assert bench.main(["train", "--preset", "tiny64", "--tasks", "side_qa", "arrow", "--batch", "2",
                       "--steps", "2", "--warmup", "1", "--device", "cpu", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["samples_per_s"] > 0 and 0 < report["data_share"] < 1
    assert set(report["per_task_samples_per_s"]) == {"side_qa", "arrow"}
    assert set(report["per_task_data_share"]) == {"side_qa", "arrow"}
    assert all(0 < share < 1 for share in report["per_task_data_share"].values())
    assert report["tflops_per_s"] > 0 and report["mfu"] is None  # no peak known for a CPU
    assert report["peak_memory_GiB"] is None and report["tasks"] == ["side_qa", "arrow"]  # memory: CUDA only


def test_sampling_bench_times_each_task_and_flags_the_floor(capsys, monkeypatch):
    assert bench.main(["sampling", "--tasks", "side_qa", "control", "--batch", "8", "--seconds", "0.05",
                       "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert list(report["samples_per_s"]) == ["side_qa", "control"] and report["threads"] == 1
    assert all(rate > 0 for rate in report["samples_per_s"].values())
    assert report["below_floor"] == [t for t, r in report["samples_per_s"].items() if r < bench.SAMPLING_FLOOR]
    monkeypatch.setattr(bench, "SAMPLING_FLOOR", 1e12)  # nothing reaches it: every task is flagged
    assert bench.main(["sampling", "--tasks", "side_qa", "--batch", "4", "--seconds", "0.02"]) == 0
    assert "below the floor" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        bench.main(["sampling", "--tasks", "no_such_task"])
    assert exit_.value.code == 2 and "--tasks: unknown no_such_task" in capsys.readouterr().err


def test_bad_arguments_are_one_line_errors(capsys):
    with pytest.raises(SystemExit) as exit_:
        bench.main(["train", "--steps", "0", "--device", "cpu"])
    assert exit_.value.code == 2
    assert "--steps: expected a positive integer" in capsys.readouterr().err


# ---------------------------------------------------------------------------- bench gpu
CPU_PLAN = replace(bench_gpu.QUICK, device="cpu", game_seconds=0.05, game_batch_64=8, game_batch_224=2,
                   train_runs=(("tiny64", 2),), train_compile=(False,), train_steps=2, fit_preset="tiny64",
                   fit_batch=2, fit_precision="32-true", fit_val_batches=1, fit_steps=6, fit_val_every=3,
                   resume_steps=(4, 4), resume_val_every=3)


def _one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and not captured.out, captured
    return lines[0]


def test_gpu_bench_without_cuda_says_so_in_one_line_and_exits_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit) as exit_:
        bench.main(["gpu", "--out", str(tmp_path / "gpu.json")])
    assert exit_.value.code == 2
    assert _one_error_line(capsys) == "error: bench gpu needs a CUDA device (found none); run it on a GPU machine"
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("args, message", [
    (["--out", "{tmp}/missing/gpu.json"],
     "error: --out {tmp}/missing/gpu.json: the folder {tmp}/missing does not exist; create it first"),
    (["--out", "{tmp}"], "error: --out {tmp}: is a folder; give a file name, e.g. {tmp}/bench_gpu.json"),
    (["--budget", "0"], "error: --budget: expected a positive number of seconds, got 0"),
    (["--budget", "nan"], "error: --budget: expected a positive number of seconds, got nan"),
])
def test_gpu_bench_checks_its_arguments_before_asking_for_cuda(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit) as exit_:
        bench.main(["gpu", *[a.format(tmp=tmp_path) for a in args]])
    assert exit_.value.code == 2
    assert _one_error_line(capsys).startswith(message.format(tmp=tmp_path))


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _fake_gpu(monkeypatch, checks: dict) -> FakeClock:
    """`bench gpu` with CUDA present, `checks` as the suite, and a clock the checks advance."""
    clock = FakeClock()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(bench_gpu, "machine", lambda: {"date": "2026-12-01T00:00:00Z", "commit": None,
                                                       "dirty": None, "machine": {"gpu": "fake"}})
    monkeypatch.setattr(bench_gpu, "CHECKS", checks)
    monkeypatch.setattr(bench_gpu, "_clock", clock)
    return clock


def test_gpu_bench_records_a_failing_check_and_still_runs_the_others(tmp_path, monkeypatch, capsys):
    out = tmp_path / "gpu.json"

    def written() -> dict:
        return json.loads(out.read_text())

    def first(context, record):
        assert written()["checks"]["first"] == {"status": "running"}  # written before the check starts
        clock.now += 2.5
        record["part"] = 1.5
        context.save()  # a check with parts writes each as it finishes
        assert written()["checks"]["first"] == {"status": "running", "part": 1.5}
        record["number"] = 1.5

    def second(context, record):
        assert written()["checks"]["first"] == {"status": "ok", "part": 1.5, "number": 1.5, "seconds": 2.5}
        assert context.plan is bench_gpu.QUICK
        record["measured"] = 7
        raise RuntimeError("boom\n  a second line that is not kept")

    def third(context, record):
        assert written()["checks"]["second"]["status"] == "failed"
        record["number"] = 3

    clock = _fake_gpu(monkeypatch, {"first": first, "second": second, "third": third})
    assert bench.main(["gpu", "--out", str(out), "--quick"]) == 1  # not every check is ok
    report = written()
    assert report["command"] == f"python -m penguin.bench gpu --out {out} --quick"
    assert report["quick"] is True and report["finished"] is True and report["machine"] == {"gpu": "fake"}
    assert report["checks"]["second"] == {"status": "failed", "measured": 7, "error": "RuntimeError: boom",
                                          "seconds": 0.0}
    assert report["checks"]["third"]["status"] == "ok" and report["checks"]["third"]["number"] == 3
    assert report["elapsed_s"] == 2.5
    assert f"wrote {out}" in capsys.readouterr().out
    assert not list(tmp_path.glob("*.partial"))


def test_gpu_bench_exits_0_when_every_check_is_ok(tmp_path, monkeypatch):
    _fake_gpu(monkeypatch, {"only": lambda context, record: record.update(x=1)})
    assert bench.main(["gpu", "--out", str(tmp_path / "gpu.json")]) == 0
    assert json.loads((tmp_path / "gpu.json").read_text())["checks"]["only"]["status"] == "ok"


def test_gpu_bench_skips_the_checks_not_started_within_the_budget(tmp_path, monkeypatch):
    left = {}

    def slow(name):
        def check(context, record):
            left[name] = context.left()
            clock.now += 6
        return check

    clock = _fake_gpu(monkeypatch, {"a": slow("a"), "b": slow("b"), "c": slow("c")})
    assert bench.main(["gpu", "--out", str(tmp_path / "gpu.json"), "--budget", "10"]) == 1
    checks = json.loads((tmp_path / "gpu.json").read_text())["checks"]
    assert left == {"a": 10, "b": 4}  # b starts inside the budget and is told what is left; c never starts
    assert [checks[n]["status"] for n in "abc"] == ["ok", "ok", "skipped"]
    assert checks["c"]["note"] == "not started: 12 s of the 10 s budget spent"


def test_a_run_killed_mid_check_keeps_the_finished_checks(tmp_path, monkeypatch):
    def killed(context, record):
        record["started"] = True
        raise KeyboardInterrupt  # what a timeout's signal looks like to the suite: not caught

    _fake_gpu(monkeypatch, {"done": lambda context, record: record.update(x=1), "killed": killed,
                            "never": lambda context, record: None})
    with pytest.raises(KeyboardInterrupt):
        bench.main(["gpu", "--out", str(tmp_path / "gpu.json")])
    report = json.loads((tmp_path / "gpu.json").read_text())
    assert report["finished"] is False
    assert report["checks"]["done"]["status"] == "ok"
    assert report["checks"]["killed"] == {"status": "running"}
    assert report["checks"]["never"] == {"status": "pending"}


def test_dynamo_counts_show_compiles_graph_breaks_and_recompile_limit_hits():
    import torch._dynamo
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    # dynamo's own patching: monkeypatch's undo deletes a config entry on newer pytest
    patch = torch._dynamo.config.patch(recompile_limit=2, automatic_dynamic_shapes=False)  # a recompile per length
    patch.__enter__()

    def f(x):
        y = x * 2
        if (y > 100).any():  # data-dependent: a graph break
            y = y - 1
        return y.sum()

    compiled = torch.compile(f, backend="eager")
    try:
        compiled(torch.ones(1))
        first = bench_gpu.dynamo_counts()
        assert first["frames_compiled"] >= 1 and first["graphs"] >= 1
        assert first["graph_breaks"] >= 1 and first["recompile_limit_hits"] == 0
        assert sum(bench_gpu.graph_break_reasons().values()) == first["graph_breaks"]
        compiled(torch.ones(2))  # the second and last entry the limit allows
        second = bench_gpu.dynamo_counts()
        assert second["frames_compiled"] > first["frames_compiled"] and second["recompile_limit_hits"] == 0
        for n in range(3, 6):  # past the limit: eager from now on, and counted
            compiled(torch.ones(n))
        assert bench_gpu.dynamo_counts()["recompile_limit_hits"] >= 1
        assert bench_gpu.cache_entries()[f"f (test_bench.py:{f.__code__.co_firstlineno})"] == 2  # full
        assert all("recompile limit" not in reason.lower() for reason in bench_gpu.graph_break_reasons())
    finally:
        patch.__exit__(None, None, None)
        torch._dynamo.reset()
        counters.clear()


def _checkpoint(weight, *, step=10, consumed=10, count=3):
    return {"state_dict": {"w": weight, "unused_slots": torch.tensor([float("nan"), 1.0]),
                           "count": torch.tensor(count), "_extra_state": {"kinds": ["a", "b"]}},
            "global_step": step, "TaskMixture": {"consumed": consumed, "sampler": {"shares": [0.5, 0.5]}}}


def test_checkpoint_comparison_says_equal_within_bf16_tolerance_or_differs():
    w = torch.randn(100)
    same = bench_gpu.compare_checkpoints(_checkpoint(w), _checkpoint(w.clone()))
    assert same["verdict"] == "bitwise_equal" and same["max_abs_diff"] == 0.0  # NaN slots match NaN
    assert same["consumed_equal"] and same["data_state_equal"] and same["global_step"] == [10, 10]
    near = bench_gpu.compare_checkpoints(_checkpoint(w), _checkpoint(w * (1 + 1e-3)))
    assert near["verdict"] == "within_bf16_tolerance" and near["worst_tensor"] == "w" and near["max_abs_diff"] > 0
    assert bench_gpu.compare_checkpoints(_checkpoint(w), _checkpoint(w + 0.1))["verdict"] == "differs"
    assert bench_gpu.compare_checkpoints(_checkpoint(w), _checkpoint(w, count=4))["verdict"] == "differs"
    other = bench_gpu.compare_checkpoints(_checkpoint(w), _checkpoint(w, step=9, consumed=9))
    assert other["global_step"] == [10, 9] and not other["consumed_equal"] and not other["data_state_equal"]


def test_the_resume_check_runs_end_to_end_on_a_cpu_plan():
    """The real check through `penguin.fit` (FitTimeline and the throttle on the command line,
    three fits, checkpoints compared): on a CPU the resumed run is bit-exact."""
    record = {}
    bench_gpu.check_resume(bench_gpu.Context(CPU_PLAN, deadline=float("inf")), record)
    assert record["verdict"] == "bitwise_equal" and record["global_step"] == [8, 8] and record["consumed_equal"]
    assert record["max_train_loss_diff"] == {"before_resume": 0.0, "after_resume": 0.0}
    assert not torch.are_deterministic_algorithms_enabled()  # Lightning's process-wide flag was put back


@pytest.mark.slow
def test_every_check_runs_on_a_cpu_plan(tmp_path, monkeypatch):
    """The whole suite with its real checks on a CPU plan (tiny64, no compile): what needs a GPU
    fails with its reason, everything else is ok."""
    monkeypatch.setattr(bench_gpu, "_clock", time.monotonic)
    out = tmp_path / "gpu.json"
    report = bench_gpu.run_suite(bench_gpu.CHECKS, CPU_PLAN, out, 600.0, {"command": "test"})
    checks = report["checks"]
    assert json.loads(out.read_text())["checks"] == checks
    assert checks["render_cuda_equals_cpu"]["status"] == "failed"  # the gpu test is skipped without CUDA
    assert "skipped" in checks["render_cuda_equals_cpu"]["error"]
    assert checks["render_cuda_equals_cpu"]["max_abs_diff"] == {"64": 0.0, "224": 0.0}
    for name in ("render_throughput", "train_throughput", "resume", "fit_compile"):
        assert checks[name]["status"] == "ok", (name, checks[name])
    assert checks["train_throughput"]["runs"]["tiny64/eager"]["samples_per_s"] > 0
    fit = checks["fit_compile"]
    assert fit["steps_done"] == 6 and fit["recompiles_after_warmup"] == 0 and not fit["recompile_storm"]
    assert fit["max_cache_entries"] == 0  # the module compiles on CUDA only
    assert checks["gpu_temperature"]["status"] == "failed" and "not a CUDA run" in checks["gpu_temperature"]["error"]


def test_logged_scalars_reads_a_tag_from_every_version_of_a_run(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    for version, start in (("version_0", 0), ("version_1", 20)):
        writer = SummaryWriter(str(tmp_path / "run" / version))
        for step in range(start, start + 20, 10):
            writer.add_scalar("system/gpu_temp", 40.0 + step, step)
            writer.add_scalar("train/loss", 1.0, step)
        writer.close()
    assert bench_gpu.logged_scalars(tmp_path / "run", "system/gpu_temp") == [[0, 40.0], [10, 50.0], [20, 60.0],
                                                                            [30, 70.0]]
    assert bench_gpu.logged_scalars(tmp_path / "run", "nothing") == []


def _counts(frames, hits=0):
    return {"frames_compiled": frames, "frames_failed": 0, "graphs": frames, "graph_breaks": 2,
            "recompile_limit_hits": hits}


def test_the_fit_summary_flags_recompiles_after_warmup():
    import torch._dynamo

    with torch._dynamo.config.patch(recompile_limit=8):
        _check_the_fit_summary()


def _check_the_fit_summary():
    timeline = {"steps": [[s, 5.0 + s, 1.0] for s in range(1, 11)],
                "compiles": [{"step": 1, **_counts(10)}, {"step": 2, **_counts(10), "graph_breaks": 3},
                             {"step": 4, **_counts(12)}, {"step": 9, **_counts(20)}],
                "validations": [{"step": 5, "t": 10.5, **_counts(12)}]}
    summary = bench_gpu.summarise_fit(timeline, _counts(20))
    assert summary["steps_done"] == 10 and summary["seconds_to_first_step"] == 6.0
    assert summary["dynamo_after_warmup"] == _counts(12) and summary["dynamo_at_end"] == _counts(20)
    assert summary["recompiles_after_warmup"] == 8 and summary["recompile_storm"]  # 8 more: the limit
    assert summary["compile_steps"] == [1, 4, 9]  # step 2 changed a count but compiled no frame
    assert summary["steps_per_s_after_warmup"] == pytest.approx(5 / 4.5)
    calm = bench_gpu.summarise_fit(timeline | {"compiles": timeline["compiles"][:3]}, _counts(13))
    assert calm["recompiles_after_warmup"] == 1 and not calm["recompile_storm"]
    assert bench_gpu.summarise_fit(timeline, _counts(20, hits=1))["recompile_storm"]  # fell back to eager
    early = bench_gpu.summarise_fit(timeline | {"validations": []}, _counts(20))
    assert early["recompiles_after_warmup"] is None and early["warmup"].startswith("no validation ran")


# ---------------------------------------------------------------------------- bench forgetting
def test_forgetting_targets_and_boosted_steps_follow_their_definitions():
    from penguin import bench_forgetting as bf

    plan = bf.Plan(old=("side_qa",), new=("turn_qa",), phase2_steps=300)
    curves = {"sampler/side_qa/boost": [(0, 1.0), (100, 2.0), (200, 1.0)]}
    assert bf.boosted_steps(curves, "side_qa", 300) == 100  # boosted from step 100 to 200 only

    def arm(lowest, final, new, chance=0.5):
        return {"old": {"side_qa": {"lowest": lowest, "final": final, "dip": 0.95 - lowest,
                                    "final_drop": 0.95 - final, "boosted_steps": 0}},
                "new": {"turn_qa": {"final": new, "final_loss": 0.1, "chance": chance}}}

    result = {"arms": {"static": arm(0.60, 0.70, 0.80), "good": arm(0.85, 0.93, 0.75),
                       "shallow": arm(0.90, 0.90, 0.80), "weak_b": arm(0.85, 0.93, 0.70)}}
    t = bf.targets(result, plan)
    assert t["good"] == {"old_final_within": True, "old_dip_at_most_half_of_static": True,
                         "new_at_least_ratio_of_static": True, "new_compared": ["turn_qa"], "static_forgot": True}
    assert not t["shallow"]["old_final_within"]  # 5 points below its phase-1 best at the end
    assert not t["weak_b"]["new_at_least_ratio_of_static"]  # 0.70 < 0.9 × 0.80
    # a B task static did not learn (0.57, within LEARNED_MARGIN of chance 0.5) is not compared
    at_chance = {"arms": {"static": arm(0.60, 0.70, 0.57), "noise": arm(0.85, 0.93, 0.45)}}
    t = bf.targets(at_chance, plan)["noise"]
    assert t["new_at_least_ratio_of_static"] and t["new_compared"] == []
    learned = {"arms": {"static": arm(0.60, 0.70, 0.61), "worse": arm(0.85, 0.93, 0.45)}}
    assert not bf.targets(learned, plan)["worse"]["new_at_least_ratio_of_static"]  # 0.61 > 0.5 + 0.10


def test_forgetting_summary_reads_best_low_and_final_off_the_curves():
    from penguin import bench_forgetting as bf

    plan = bf.Plan(old=("side_qa",), new=("turn_qa",), phase2_steps=100)
    curves = {"phase1": {"val/side_qa/exact_acc": [(0, 0.5), (100, 0.95), (200, 0.9)]},
              "static": {"val/side_qa/exact_acc": [(0, 0.94), (50, 0.7), (100, 0.9)],
                         "val/turn_qa/exact_acc": [(50, 0.6), (100, 0.8)], "val/turn_qa/loss": [(100, 0.3)]}}
    report = bf.summarise(plan, curves, ["static"], {"turn_qa": 0.5}, {"side_qa": 0.92})
    assert report["old"]["side_qa"] == {"phase1_best": 0.95, "phase1_final": 0.9, "start": 0.92}
    side = report["arms"]["static"]["old"]["side_qa"]
    assert (side["lowest"], side["low_step"], side["final"]) == (0.7, 50, 0.9)
    # Dips fall from the start; the final is held to the phase-1 best.
    assert side["dip"] == pytest.approx(0.22) and side["dip_from_best"] == pytest.approx(0.25)
    assert side["final_drop"] == pytest.approx(0.05)
    assert side["sustained_low"] == 0.9 and side["sustained_dip"] == pytest.approx(0.02)  # median of 0.94, 0.7, 0.9
    assert report["arms"]["static"]["new"]["turn_qa"] == {"final": 0.8, "final_loss": 0.3, "chance": 0.5}


def test_a_swing_one_validation_wide_is_not_a_sustained_dip():
    from penguin import bench_forgetting as bf

    spike = [(0, 0.95), (50, 0.94), (100, 0.55), (150, 0.93), (200, 0.95)]
    assert bf.sustained_low(spike) == 0.93  # one validation at 0.55 between 0.94 and 0.93
    slide = [(0, 0.95), (50, 0.60), (100, 0.55), (150, 0.58), (200, 0.95)]
    assert bf.sustained_low(slide) == 0.58  # three validations down: the median of the lowest three
    assert bf.sustained_low([(0, 0.9), (50, 0.4)]) == 0.4 and bf.sustained_low([]) is None


def test_forgetting_smoke_run_writes_its_report_and_reuses_phase_1(tmp_path, capsys):
    from PIL import Image

    from penguin import bench_forgetting as bf

    runs, out = tmp_path / "runs", tmp_path / "out"
    argv = ["forgetting", "--quick", "--runs", str(runs), "--out", str(out)]
    assert bench.main([*argv, "--arms", "static", "adaptive"]) == 0
    report = json.loads((out / "forgetting.json").read_text())
    assert list(report["seeds"]) == ["0"] and report["plan"]["phase2_seeds"] == [0]
    seed0 = report["seeds"]["0"]
    assert set(seed0["arms"]) == {"static", "adaptive"} and set(seed0["targets"]) == {"adaptive"}
    met = report["summary"]["adaptive"]
    assert met["all_targets_every_seed"] == all(seed0["targets"]["adaptive"][t] for t in bf.TARGETS)
    assert all(m == ([0] if seed0["targets"]["adaptive"][t] else []) for t, m in met["seeds_meeting"].items())
    for entry in seed0["arms"].values():
        old = entry["old"]["near_gold_qa"]
        assert old["final"] is not None and 0 <= old["final"] <= 1 and old["boosted_steps"] >= 0
        assert entry["new"]["arrow"]["final"] is not None and entry["shares"]["arrow"]
        assert entry["new"]["arrow"]["chance"] is None and 0 < entry["new"]["turn_qa"]["chance"] < 1
    adaptive = json.loads(next(runs.glob("phase2_adaptive_*.json")).read_text())["data"]["sampler_options"]
    assert adaptive["severe"] == 1.0 and adaptive["rebase_after"] == 3  # the defaults, written out
    assert report["old"]["near_gold_qa"]["phase1_best"] is not None
    # The start is phase 1's last weights on phase 2's validation of A: on phase 1's own single
    # batch it is phase 1's last validation (at the same weights), and every arm's dip falls from it.
    checkpoint = next(runs.glob("phase1_*/checkpoints/last.ckpt"))
    assert (checkpoint.parent / "start_scores_2.json").is_file()
    one_batch = bf.start_scores(replace(bf.QUICK, old_val_batches=1), checkpoint)
    assert one_batch["near_gold_qa"] == pytest.approx(report["old"]["near_gold_qa"]["phase1_final"], abs=1e-6)
    start = report["old"]["near_gold_qa"]["start"]
    assert start == json.loads((checkpoint.parent / "start_scores_2.json").read_text())["near_gold_qa"]
    for entry in seed0["arms"].values():
        old = entry["old"]["near_gold_qa"]
        assert old["dip"] == pytest.approx(start - old["lowest"])
    first_png = tmp_path / "first.png"
    first_png.write_bytes((out / "forgetting.png").read_bytes())
    assert "phase1_" in capsys.readouterr().out
    assert bench.main([*argv, "--arms", "static", "lr_scale"]) == 0  # phase 1 and static are reused
    printed = capsys.readouterr().out
    assert "phase 1: reusing" in printed and "reusing" in printed.split("phase2_static_")[1].splitlines()[0]
    assert "phase2_lr_scale_" in printed
    assert bench.main([*argv, "--arms", "static", "--fresh"]) == 0  # --fresh runs the arm again
    assert "reusing" not in capsys.readouterr().out.split("phase2_static_")[1].splitlines()[0]
    assert bench.main([*argv, "--arms", "static", "adaptive", "--phase2-seed", "0", "1"]) == 0  # seed 1: new runs
    printed = capsys.readouterr().out
    assert "reusing (seed 0)" in printed and "reusing (seed 1)" not in printed
    seeds = sorted(json.loads(f.read_text())["data"]["seed"] for f in runs.glob("phase2_static_*.json"))
    assert seeds == [0, 1]
    report = json.loads((out / "forgetting.json").read_text())
    assert list(report["seeds"]) == ["0", "1"] and report["seeds"]["0"]["arms"] == seed0["arms"]
    for target, seeds_meeting in report["summary"]["adaptive"]["seeds_meeting"].items():
        assert seeds_meeting == [s for s in (0, 1) if report["seeds"][str(s)]["targets"]["adaptive"][target]]
    assert Image.open(out / "forgetting.png").height == 2 * Image.open(first_png).height  # one row per seed
    assert bench.main([*argv, "--arms", "static", "--ema-decay", "none"]) == 0  # no average: a new setting
    assert "reusing" not in capsys.readouterr().out.split("phase2_static_")[1].splitlines()[0]
    for config in runs.glob("phase2_static_*.json"):  # the arms average (plan.ema_decay) unless told not to
        decay = json.loads(config.read_text())["model"]["ema_decay"]
        state = torch.load(config.with_suffix("") / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
        assert decay in (None, bench_forgetting_plan().ema_decay)
        assert any(k.startswith("averaged.brain.") for k in state) == (decay is not None), config.name
    decays = [json.loads(f.read_text())["model"]["ema_decay"] for f in runs.glob("phase2_static_*.json")]
    assert decays.count(None) == 1 and json.loads(next(runs.glob("phase1_*.json")).read_text())["model"]["ema_decay"] is None
    config = json.loads(next(runs.glob("phase2_lr_scale_*.json")).read_text())
    plan = bench_forgetting_plan()
    assert config["data"]["task_options"]["near_gold_qa"]["lr_scale"] == plan.old_lr_scale
    # A's dips are single validations, so phase 2 validates A on more batches than B and than phase 1
    assert plan.old_val_batches > plan.val_batches
    assert config["data"]["task_options"]["near_gold_qa"]["val_batches"] == plan.old_val_batches
    assert "val_batches" not in config["data"]["task_options"]["turn_qa"]
    assert config["data"]["val_batches"] == plan.val_batches
    assert "val_batches" not in json.loads(next(runs.glob("phase1_*.json")).read_text())["data"]["task_options"][
        "near_gold_qa"]
    phase1 = json.loads(next(runs.glob("phase1_*.json")).read_text())  # phase 2 has its own schedule
    assert (phase1["model"]["lr"], phase1["trainer"]["val_check_interval"]) == (plan.lr, plan.val_every)
    assert (config["model"]["lr"], config["model"]["warmup_steps"], config["trainer"]["val_check_interval"]) == (
        plan.phase2_lr, plan.phase2_warmup, plan.phase2_val_every)
    for args, message in [(["--old", "arrow", "--new", "arrow"], "--old and --new share ['arrow']"),
                          (["--phase2-lr", "-1"], "--phase2-lr: expected a positive number"),
                          (["--phase2-seed", "-1"], "--phase2-seed: expected an integer >= 0"),
                          (["--ema-decay", "1.5"], "--ema-decay: expected a number in (0, 1)"),
                          (["--old-val-batches", "0"], "--old-val-batches: expected a positive integer"),
                          (["--ema-decay", "slow"], "--ema-decay: ")]:
        with pytest.raises(SystemExit) as exit_:
            bench.main(["forgetting", *args])
        assert exit_.value.code == 2 and message in capsys.readouterr().err, args
    # A phase 1 run again (its checkpoints are gone) measures its start again: none of the old one is kept.
    (checkpoint.parent / "start_scores_2.json").write_text('{"near_gold_qa": -1.0}')
    for held in checkpoint.parent.glob("*.ckpt"):
        held.unlink()
    assert bench.main([*argv, "--arms", "static"]) == 0
    assert json.loads((out / "forgetting.json").read_text())["old"]["near_gold_qa"]["start"] == pytest.approx(start)


def bench_forgetting_plan():
    from penguin.bench_forgetting import QUICK

    return QUICK
