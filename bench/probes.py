"""Learning probes: does a task's validation error fall below its trivial baseline within a few
hundred steps of `tiny64`, trained alone?

    python bench/probes.py                                   # the default families, 400 steps each
    python bench/probes.py --tasks recall value --steps 600 --out bench/probes.json

Each task is a real `python -m penguin.fit` run (tiny64, batch 32, lr 1e-3, CPU), validated four
times on the task's fixed validation batches. The baseline is computed on those same batches:

| the task's target | the model's number            | trivial baseline                                    |
|-------------------|-------------------------------|-----------------------------------------------------|
| an image          | `val/<task>/mse`, and `val/<task>/<kind>/mse` per question kind where a task has several | MSE of copying the step's input image (for a step without one: of a white image) |
| a value           | `val/<task>/value_mae`        | MAE of the best constant (the median target)        |
| an answer         | `val/<task>/exact_acc`        | chance: 1 / the number of answers of the kind asked |

A probe "moved" when the model beats its baseline at the last validation. Record the table in
`bench/RESULTS.md` with the machine, date and commit; these are not timed tests.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datamodules import registry  # noqa: E402
from penguin.fit_runs import read_curves, run_fit  # noqa: E402

DEFAULT_TASKS = ("zoom", "imagine_without", "imagine_after_move", "recall", "value", "compare")


def baselines(task: str, val_batches: int, batch_size: int, size: int = 64) -> dict[str, float]:
    """The trivial baselines of `task` on its validation batches (see the module docstring)."""
    module = registry.get(task)(batch_size=batch_size, val_batches=val_batches, image_size=size)
    copy_err, pixels, values, chance, answered = 0.0, 0, [], 0.0, 0
    kind_err: dict[str, list[float]] = {}  # per question kind: squared error of the copy, pixels
    for v in range(val_batches):
        spec = module.val_batch(v)
        episode = spec.to("cpu").render(size)
        for step_spec, step in zip(spec.steps, episode.steps):
            if step.image_target is not None:
                source = step.image if step.image is not None else torch.ones_like(step.image_target)
                squared = (source - step.image_target).pow(2)
                copy_err += float(squared.sum())
                pixels += step.image_target.numel()
                if step.question is not None:
                    per_sample = squared.flatten(1).sum(1)
                    for q in step.question.unique().tolist():
                        if q >= 0:
                            picked = step.question == q
                            row = kind_err.setdefault(spec.question_kinds[q], [0.0, 0])
                            row[0] += float(per_sample[picked].sum())
                            row[1] += int(picked.sum()) * squared[0].numel()
            if step.value_target is not None:
                values.append(step.value_target.float())
            if step.has_answer and step.question is not None:
                kinds = [module.kind(k) for k in spec.question_kinds]
                asked = step.question[step.answer_mask.any(dim=1) & (step.question >= 0)]
                chance += sum(1.0 / len(kinds[int(q)].answers) for q in asked)
                answered += len(asked)
    out = {}
    if pixels:
        out["mse"] = copy_err / pixels
        if len(kind_err) > 1:  # each kind on its own too (a recall step apart from the plain copies)
            out.update({f"{kind}/mse": err / n for kind, (err, n) in kind_err.items()})
    if values:
        v = torch.cat(values)
        out["value_mae"] = float((v - v.median()).abs().mean())
    if answered:
        out["exact_acc"] = chance / answered
    return out


def probe(task: str, steps: int, runs: Path) -> dict:
    val_batches, batch = 4, 32
    config = {
        "restart": True, "seed_everything": 0,
        "model": {"preset": "tiny64", "weighting": "static", "lr": 1e-3, "warmup_steps": min(50, steps),
                  "foreground_weight": 4.0, "edit_weight": 30.0},
        "data": {"tasks": [task], "batch_size": batch, "image_size": 64, "val_batches": val_batches,
                 "sampler": "uniform"},
        "trainer": {"accelerator": "cpu", "precision": "32-true", "max_steps": steps,
                    "val_check_interval": max(1, steps // 4), "enable_progress_bar": False},
    }
    start = time.time()
    run_fit(config, runs / task)
    minutes = (time.time() - start) / 60
    curves = read_curves(runs / task)
    base = baselines(task, val_batches, batch)
    rows = {}
    for metric, baseline in base.items():
        curve = curves.get(f"val/{task}/{metric}", [])
        final = curve[-1][1] if curve else None
        better = None if final is None else (final > baseline if metric.endswith("exact_acc") else final < baseline)
        rows[metric] = {"curve": curve, "final": final, "baseline": baseline, "moved": better}
    return {"task": task, "steps": steps, "minutes": round(minutes, 1), "metrics": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/probes.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=list(DEFAULT_TASKS))
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--runs", default="runs/probes")
    parser.add_argument("--out", default="bench/probes.json")
    args = parser.parse_args(argv)
    unknown = [t for t in args.tasks if t not in registry.names()]
    if unknown or args.steps < 4:
        parser.error(f"unknown tasks {unknown}" if unknown else "--steps: at least 4")
    results = []
    for task in args.tasks:
        result = probe(task, args.steps, Path(args.runs))
        results.append(result)
        for metric, row in result["metrics"].items():
            print(f"{task:<20} {metric:<10} final {row['final']:.4f}  baseline {row['baseline']:.4f}  "
                  f"{'moved' if row['moved'] else 'did not move'}  ({result['minutes']} min)", flush=True)
    Path(args.out).write_text(json.dumps({"date": time.strftime("%Y-%m-%d"), "command": " ".join(sys.argv),
                                          "results": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
