"""Throughput figures: `python -m penguin.bench <subcommand>`.

    python -m penguin.bench game [--device cpu|cuda] [--threads N] [--seconds T] [--json]
                                 [--batch-64 B] [--batch-224 B]
    python -m penguin.bench train [--preset P] [--tasks T ...] [--batch B] [--steps N]
                                  [--device cpu|cuda] [--precision 32|bf16] [--compile] [--json]
    python -m penguin.bench sampling [--tasks T ...] [--batch 64] [--threads 1] [--seconds T] [--json]
    python -m penguin.bench forgetting [--old T ...] [--new T ...] [--arms static adaptive lr_scale] [--quick] ...
    python -m penguin.bench gpu [--out bench_gpu.json] [--quick] [--budget S]

`forgetting` is the forgetting experiment: an old skill set trained to mastery, then new skills
trained beside it under several sampler arms (see `penguin/bench_forgetting.py`).

`gpu` is the GPU acceptance suite: every check that needs CUDA, in one run on one GPU, written to
one JSON file (see `penguin/bench_gpu.py`). On a machine without CUDA it says so and exits 2.

`train` times whole training steps of a brain preset (see `run_train`): samples/s, the share of
step time spent building and rendering data (overall and per task), and the model FLOP
utilisation on a GPU.

`sampling` times what each task's `sample()` does on the CPU before anything is rendered (scenes,
physics replays, greedy traces, token tables) — the part of the data path that must keep up with
a GPU — single-threaded by default, and marks every task below `SAMPLING_FLOOR` samples/s.

`game` times the game engine's data path (docs/architecture.md "The data path"): scene sampling on the CPU and
rendering where the model runs, each on its own, for

| row        | what one item is                                                              |
|------------|-------------------------------------------------------------------------------|
| `bare64`   | a bare scene (`sample_bare`) rendered at 64 px                                |
| `bare224`  | the same at 224 px                                                            |
| `arrow224` | a pair at 224 px: the scene, and the scene with the line to the gold          |
| `control224` | a control-set view (`sample_control`: full scenes, half of them zoomed 2–21×) at 224 px |

Each row is measured single-threaded and with all cores (or only with `--threads N`): rendering in
images (pairs) per second, sampling in scenes per second. A measurement repeats whole batches for
`--seconds` after one warm-up batch and reports items / elapsed time; on CUDA the device is
synchronised around the timed region, and scenes are moved there before timing the renderer.
Default batches are 256 at 64 px and 32 at 224 px (a 224-px batch of 32 is 19 MB; larger outputs
are fresh memory on every call with glibc and pay page faults — see `bench/RESULTS.md`). The default
run takes well under a minute. `--json` prints one JSON object instead of the table.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from typing import Callable

import torch


def build_parser() -> argparse.ArgumentParser:
    """The command line of every subcommand (`penguin.bench_gpu` parses its runs with it too)."""
    parser = argparse.ArgumentParser(prog="python -m penguin.bench", description="Throughput figures.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    game = commands.add_parser("game", help="scene sampling and rendering throughput",
                               description="Scene sampling and rendering throughput (see the module docstring).")
    game.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where to render (default: cpu)")
    game.add_argument("--threads", type=int, default=None,
                      help="torch intra-op threads (default: measure 1 and all cores)")
    game.add_argument("--seconds", type=float, default=1.0, help="timed seconds per measurement (default: 1)")
    game.add_argument("--batch-64", type=int, default=256, help="batch size at 64 px (default: 256)")
    game.add_argument("--batch-224", type=int, default=32, help="batch size at 224 px (default: 32)")
    game.add_argument("--json", action="store_true", help="print one JSON object")
    game.set_defaults(run=run_game)
    train = commands.add_parser("train", help="training throughput of a brain preset",
                                description="Training throughput of a brain preset (see the module docstring).")
    train.add_argument("--preset", default="tiny64", help="brain preset (default: tiny64)")
    train.add_argument("--tasks", nargs="*", default=None, help="tasks trained in turn (default: all)")
    train.add_argument("--batch", type=int, default=32, help="batch size (default: 32)")
    train.add_argument("--steps", type=int, default=20, help="timed training steps (default: 20)")
    train.add_argument("--warmup", type=int, default=3, help="untimed warm-up steps (default: 3)")
    train.add_argument("--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu")
    train.add_argument("--precision", choices=("32", "bf16"), default=None,
                       help="autocast precision (default: bf16 on CUDA, 32 on CPU)")
    train.add_argument("--compile", action="store_true", help="torch.compile the brain")
    train.add_argument("--peak-tflops", type=float, default=None,
                       help="the device's peak dense TFLOP/s for MFU (default: known GPUs, else none)")
    train.add_argument("--json", action="store_true", help="print one JSON object")
    train.set_defaults(run=run_train)
    sampling = commands.add_parser("sampling", help="CPU sampling throughput of every task (before rendering)",
                                   description="Samples/s of each task's sample() on the CPU (see the module docstring).")
    sampling.add_argument("--tasks", nargs="*", default=None, help="tasks to time (default: all registered)")
    sampling.add_argument("--batch", type=int, default=64, help="batch size (default: 64)")
    sampling.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default: 1)")
    sampling.add_argument("--seconds", type=float, default=1.0, help="timed seconds per task (default: 1)")
    sampling.add_argument("--json", action="store_true", help="print one JSON object")
    sampling.set_defaults(run=run_sampling)
    forgetting = commands.add_parser("forgetting", help="do old skills survive new ones, per sampler arm",
                                     description="The forgetting experiment (see penguin/bench_forgetting.py).")
    from penguin import bench_forgetting

    bench_forgetting.add_arguments(forgetting)
    forgetting.set_defaults(run=bench_forgetting.run)
    gpu = commands.add_parser("gpu", help="the GPU acceptance suite, written to one JSON file",
                              description="Every GPU-only check in one run (see penguin/bench_gpu.py).")
    gpu.add_argument("--out", default="bench_gpu.json", help="the JSON file to write (default: bench_gpu.json)")
    gpu.add_argument("--quick", action="store_true", help="a smoke run: every check, shrunk")
    gpu.add_argument("--budget", type=float, default=480.0,
                     help="seconds; checks not started by then are skipped (default: 480)")
    gpu.set_defaults(run=run_gpu)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    args.command_line = "python -m penguin.bench " + " ".join(argv)
    try:
        return args.run(args)
    except ValueError as e:
        parser.exit(2, f"error: {e}\n")


def run_gpu(args: argparse.Namespace) -> int:
    # Imported here: the suite loads Lightning and the whole training stack.
    from penguin import bench_gpu

    return bench_gpu.run(args)


# ---------------------------------------------------------------------------- game
def run_game(args: argparse.Namespace) -> int:
    report = game_report(args)
    if args.json:
        print(json.dumps(report))
    else:
        _print_table(report)
    return 0


def game_report(args: argparse.Namespace) -> dict:
    """The `game` measurements of parsed `args`, as the JSON object `--json` prints; raises a
    one-line `ValueError` for a bad argument. Leaves torch's intra-op threads at the last count
    measured."""
    if args.device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: CUDA is not available on this machine; use --device cpu")
    for name in ("threads", "batch_64", "batch_224"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ValueError(f"--{name.replace('_', '-')}: expected a positive integer, got {value}")
    if not args.seconds > 0:
        raise ValueError(f"--seconds: expected a positive number, got {args.seconds:g}")
    device = torch.device(args.device)
    cores = os.cpu_count() or 1
    thread_counts = [args.threads] if args.threads else sorted({1, cores})

    report = {
        "command": args.command_line,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "cpu": _cpu_model(), "cores": cores, "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d"), "seconds": args.seconds,
        "batch": {"64": args.batch_64, "224": args.batch_224},
        "results": {},
    }
    for threads in thread_counts:
        torch.set_num_threads(threads)
        report["results"][f"threads={threads}"] = _game_rows(device, args.batch_64, args.batch_224, args.seconds)
    return report


def _game_rows(device: torch.device, b64: int, b224: int, seconds: float) -> dict[str, dict[str, float]]:
    # Imported here so other subcommands do not load the game engine.
    from penguin.game.control import sample_control
    from penguin.game.render import render
    from penguin.game.sampling import sample_bare

    generator = torch.Generator().manual_seed(0)
    bare64 = sample_bare(generator, b64).to(device)
    bare224 = sample_bare(generator, b224).to(device)
    views = sample_control(generator, b224)
    control = (views.scene.to(device), views.zoom_center.to(device), views.zoom_factor.to(device))

    def pair() -> None:
        render(bare224, 224)
        render(bare224, 224, line_to_gold=True)

    rows = {
        "bare64": {"render_per_s": _rate(lambda: render(bare64, 64), b64, device, seconds),
                   "sample_per_s": _rate(lambda: sample_bare(generator, b64), b64, None, seconds)},
        "bare224": {"render_per_s": _rate(lambda: render(bare224, 224), b224, device, seconds),
                    "sample_per_s": _rate(lambda: sample_bare(generator, b224), b224, None, seconds)},
        "arrow224": {"render_per_s": _rate(pair, b224, device, seconds)},
        "control224": {
            "render_per_s": _rate(lambda: render(control[0], 224, zoom_center=control[1], zoom_factor=control[2]),
                                  b224, device, seconds),
            "sample_per_s": _rate(lambda: sample_control(generator, b224), b224, None, seconds)},
    }
    return rows


def _rate(fn: Callable[[], object], items: int, device: torch.device | None, seconds: float) -> float:
    """Items per second of `fn` (one batch of `items` per call) over about `seconds`."""
    def sync() -> None:
        if device is not None and device.type == "cuda":
            torch.cuda.synchronize(device)

    fn()
    sync()
    calls, start = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        sync()
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return calls * items / elapsed


# ---------------------------------------------------------------------------- train
PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0, "A10": 125.0, "4090": 165.0}


def run_train(args: argparse.Namespace) -> int:
    report = train_report(args)
    if args.json:
        print(json.dumps(report))
        return 0
    name, achieved = report["device"], report["tflops_per_s"]
    print(f"{report['command']}  |  {report['date']}  |  {name}  |  {report['cpu']}  |  torch {report['torch']}")
    print(f"preset {args.preset} ({report['parameters_M']} M), batch {args.batch}, precision {report['precision']}, "
          f"compile={args.compile}, {args.steps} steps over {len(report['tasks'])} tasks in turn")
    print(f"  samples/s        {report['samples_per_s']:,.1f}")
    print(f"  data share       {100 * report['data_share']:.1f} % of step time (sampling + rendering)")
    mfu = f"{100 * report['mfu']:.1f} %" if report["mfu"] is not None else "— (no known peak)"
    print(f"  model TFLOP/s    {achieved:.2f}   MFU {mfu}")
    if report["peak_memory_GiB"] is not None:
        print(f"  peak memory      {report['peak_memory_GiB']:.2f} GiB allocated")
    print(f"    {'task':<20}{'samples/s':>10}{'data share':>12}")
    for task, rate in sorted(report["per_task_samples_per_s"].items()):
        print(f"    {task:<20}{rate:>10,.1f}{100 * report['per_task_data_share'][task]:>11.1f}%")
    return 0


def train_report(args: argparse.Namespace) -> dict:
    """Time whole training steps of one preset, as `python -m penguin.fit` runs them; returns the
    JSON object `--json` prints, and raises a one-line `ValueError` for a bad argument.

    One step = draw the task's batch on the CPU (`train_batch`), move it to the device and render
    it there, then forward, backward and an AdamW step. Reported: samples/s overall and per task,
    the share of step time spent building + rendering data, and — on a GPU with a known (or given)
    peak — the model FLOP utilisation, from FLOPs counted once per task with
    `torch.utils.flop_counter` (forward + backward) divided by time and the peak; on CUDA also the
    peak memory allocated (`torch.cuda.max_memory_allocated`, counted from the start of this call).
    """
    from datamodules.mixture import TaskMixture
    from lit_modules.terms import EDIT_WEIGHT, FOREGROUND_WEIGHT, run_episode
    from penguin.brain import Brain

    if args.device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: CUDA is not available on this machine; use --device cpu")
    for name in ("batch", "steps"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name}: expected a positive integer, got {getattr(args, name)}")
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    precision = args.precision or ("bf16" if device.type == "cuda" else "32")
    brain = Brain.from_preset(args.preset).to(device)
    data = TaskMixture(tasks=args.tasks or "all", image_size=brain.config.image_size, batch_size=args.batch,
                       sampler="round_robin")
    step_fn = torch.compile(brain) if args.compile else brain
    fused = device.type == "cuda"
    optimizer = torch.optim.AdamW(brain.parameters(), lr=1e-4, fused=fused or None)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def train_step(step: int) -> tuple[str, float, float]:
        start = time.perf_counter()
        episode = data.train_batch(step).to(device).render(data.image_size)
        sync()
        built = time.perf_counter()
        with autocast:
            terms = run_episode(step_fn, episode, foreground_weight=FOREGROUND_WEIGHT,
                                edit_weight=EDIT_WEIGHT).terms
            loss = sum(terms.values())
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        sync()
        return episode.task, built - start, time.perf_counter() - start

    for s in range(args.warmup * len(data.task_names)):
        train_step(s)
    flops = _flops_per_task(data, brain, device, autocast)
    per_task: dict[str, list[float]] = {}
    per_task_data: dict[str, float] = {}
    data_time = total_time = 0.0
    total_flops = 0.0
    for s in range(args.steps):
        task, d, t = train_step(args.warmup * len(data.task_names) + s)
        per_task.setdefault(task, []).append(t)
        per_task_data[task] = per_task_data.get(task, 0.0) + d
        data_time, total_time = data_time + d, total_time + t
        total_flops += flops[task]
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    peak = args.peak_tflops or next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)
    achieved = total_flops / total_time / 1e12
    peak_memory = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    return {
        "command": args.command_line, "date": time.strftime("%Y-%m-%d"), "device": name, "cpu": _cpu_model(),
        "threads": torch.get_num_threads(), "torch": torch.__version__, "preset": args.preset,
        "parameters_M": round(sum(p.numel() for p in brain.parameters()) / 1e6, 1), "batch": args.batch,
        "precision": precision, "compile": args.compile, "steps": args.steps, "tasks": data.task_names,
        "samples_per_s": args.steps * args.batch / total_time,
        "data_share": data_time / total_time,
        "tflops_per_s": achieved, "mfu": achieved / peak if peak and device.type == "cuda" else None,
        "peak_memory_GiB": peak_memory,
        "per_task_samples_per_s": {t: len(ts) * args.batch / sum(ts) for t, ts in per_task.items()},
        "per_task_data_share": {t: per_task_data[t] / sum(ts) for t, ts in per_task.items()},
    }


# ---------------------------------------------------------------------------- sampling
SAMPLING_FLOOR = 5_000
"""Samples/s per task (one core, batch 64) that the CPU side of the data path must reach to keep
a GPU fed; a task below it moves that work to the device."""


def run_sampling(args: argparse.Namespace) -> int:
    report = sampling_report(args)
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"{report['command']}  |  {report['date']}  |  {report['cpu']}  |  torch {report['torch']}")
    print(f"batch {args.batch}, {args.threads} thread(s), {args.seconds:g} s per task; "
          f"floor {SAMPLING_FLOOR:,} samples/s")
    for task, rate in report["samples_per_s"].items():
        flag = "" if rate >= SAMPLING_FLOOR else "   below the floor"
        print(f"  {task:<26}{rate:>12,.0f} samples/s{flag}")
    return 0


def sampling_report(args: argparse.Namespace) -> dict:
    """Time `train_batch` (the task's `sample()` on its seeded generator; nothing rendered) of each
    task; returns the JSON object `--json` prints. One-line `ValueError` for a bad argument."""
    from datamodules import registry

    for name in ("batch", "threads"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name}: expected a positive integer, got {getattr(args, name)}")
    if not args.seconds > 0:
        raise ValueError(f"--seconds: expected a positive number, got {args.seconds}")
    names = args.tasks or registry.names()
    unknown = [t for t in names if t not in registry.names()]
    if unknown:
        raise ValueError(f"--tasks: unknown {', '.join(unknown)}; registered: {', '.join(registry.names())}")
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        rates = {}
        for task in names:
            module = registry.get(task)(batch_size=args.batch)
            counter = iter(range(1 << 30))
            rates[task] = _rate(lambda: module.train_batch(next(counter)), args.batch, None, args.seconds)
    finally:
        torch.set_num_threads(threads)
    return {"command": args.command_line, "date": time.strftime("%Y-%m-%d"), "cpu": _cpu_model(),
            "torch": torch.__version__, "batch": args.batch, "threads": args.threads, "floor": SAMPLING_FLOOR,
            "samples_per_s": rates, "below_floor": [t for t, r in rates.items() if r < SAMPLING_FLOOR]}


def _flops_per_task(data, brain, device: torch.device, autocast) -> dict[str, float]:
    """FLOPs of one training step (forward + backward) of each task's batch."""
    from torch.utils.flop_counter import FlopCounterMode

    from lit_modules.terms import run_episode

    flops = {}
    for i, name in enumerate(data.task_names):
        episode = data.tasks[name].train_batch(10_000 + i).to(device).render(data.image_size)
        counter = FlopCounterMode(display=False)
        with counter, autocast:
            loss = sum(run_episode(brain, episode).terms.values())
            loss.backward()
        brain.zero_grad(set_to_none=True)
        flops[name] = float(counter.get_total_flops())
    return flops


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    except OSError:  # not Linux: fall back to what the platform module knows
        names = []
    return names[0] if names else platform.processor() or platform.machine()


def _print_table(report: dict) -> None:
    print(f"{report['command']}  |  {report['date']}  |  device {report['device']}  |  "
          f"{report['cpu']} ({report['cores']} cores)  |  torch {report['torch']}")
    print(f"batch: {report['batch']['64']} at 64 px, {report['batch']['224']} at 224 px; "
          f"{report['seconds']:g} s per measurement")
    units = {"bare64": "img/s", "bare224": "img/s", "arrow224": "pairs/s", "control224": "img/s"}
    for threads, rows in report["results"].items():
        print(f"\n{threads}")
        print(f"  {'row':<12}{'render':>16}{'sampling (scenes/s)':>22}")
        for name, row in rows.items():
            sample = f"{row['sample_per_s']:,.0f}" if "sample_per_s" in row else "—"
            print(f"  {name:<12}{row['render_per_s']:>10,.0f} {units[name]:<6}{sample:>21}")


if __name__ == "__main__":
    sys.exit(main())
