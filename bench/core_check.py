"""The core learning check: did a `configs/core_cpu.yaml` run bring all eleven core tasks to
their targets, and did any task end worse than its own best?

    python -m penguin.fit --config configs/core_cpu.yaml                # runs/core_cpu
    python bench/core_check.py --run runs/core_cpu                      # prints the table
    python bench/core_check.py --run runs/core_cpu --out bench/core_cpu.json

The final numbers are `python -m penguin.evaluate`'s (`penguin.evaluate.evaluate`) on the run's
last checkpoint, over 16 validation batches of 32 — 512 samples per task, the task's fixed
validation seeds. The questions' validation sets are balanced over their answers by the tasks
themselves (`balanced`, see each task's docstring), so chance is one over a kind's answers.

| task                    | target (final, 512 samples)                                         |
|-------------------------|---------------------------------------------------------------------|
| each of `QUESTIONS`     | exact accuracy ≥ 0.90                                               |
| `arrow`                 | edit ratio ≤ 0.35, copy step MSE ≤ 0.002, draw step MSE ≤ 0.005     |
| `control`               | reconstruction MSE ≤ 0.003                                          |
| `language`              | perplexity below the unigram model's of the same pool               |

**Ends at its best**: from the run's own validation curves (TensorBoard, at every validation of
the run), no task's final score is more than 3 points below its best — exact accuracy for a
question, `1 − edit ratio` for the arrow — and no other task's final validation loss is more than
10 % above its lowest. The curves use the run's `val_batches` (4 × 32 samples in core_cpu), so a
3-point step there is near the noise of 128 samples; the table prints both numbers.

Writes the table's numbers as JSON with `--out`. These are learning results, not timed tests:
record them in `bench/RESULTS.md` with the machine, date, command and commit.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from penguin.evaluate import evaluate  # noqa: E402
from penguin.fit_runs import read_curves  # noqa: E402

QUESTIONS = ("side_qa", "egocentric_side_qa", "facing_gold_qa", "near_gold_qa", "line_facing_qa", "turn_qa",
             "next_move_qa", "action_names")
ACCURACY = 0.90
ARROW = {"edit_ratio": 0.35, "copy_scene/mse": 0.002, "draw_line_to_gold/mse": 0.005}
CONTROL_MSE = 0.003
END_POINTS, END_LOSS = 0.03, 0.10


def final_targets(table: dict[str, dict[str, float]]) -> list[dict]:
    """One row per target: `{task, metric, value, target, met}` from evaluate's table."""
    rows = []

    def row(task, metric, value, target, met):
        rows.append({"task": task, "metric": metric, "value": value, "target": target, "met": bool(met)})

    for task in QUESTIONS:
        value = table.get(task, {}).get("exact_acc")
        row(task, "exact_acc", value, f">= {ACCURACY}", value is not None and value >= ACCURACY)
    arrow = table.get("arrow", {})
    for metric, bound in ARROW.items():
        value = arrow.get(metric)
        row("arrow", metric, value, f"<= {bound}", value is not None and value <= bound)
    value = table.get("control", {}).get("mse")
    row("control", "mse", value, f"<= {CONTROL_MSE}", value is not None and value <= CONTROL_MSE)
    language = table.get("language", {})
    value, unigram = language.get("perplexity"), language.get("unigram_perplexity")
    row("language", "perplexity", value, f"< unigram {unigram:.3f}" if unigram else "< unigram",
        value is not None and unigram is not None and value < unigram)
    return rows


def ends_at_best(curves: dict[str, list[tuple[int, float]]], tasks) -> list[dict]:
    """Per task: its best and final validation score (or loss) in the run, and whether it ended
    within `END_POINTS` (or `END_LOSS` of its loss) of the best."""
    rows = []
    for task in tasks:
        if f"val/{task}/exact_acc" in curves:
            kind, points = "exact_acc", curves[f"val/{task}/exact_acc"]
        elif f"val/{task}/edit_ratio" in curves:
            kind, points = "1 - edit_ratio", [(s, 1 - v) for s, v in curves[f"val/{task}/edit_ratio"]]
        else:
            kind, points = "loss", curves.get(f"val/{task}/loss", [])
        if not points:
            rows.append({"task": task, "score": kind, "best": None, "final": None, "met": False})
            continue
        values = [v for _, v in points]
        if kind == "loss":
            best_step, best = min(points, key=lambda p: p[1])
            met = values[-1] <= best * (1 + END_LOSS)
        else:
            best_step, best = max(points, key=lambda p: p[1])
            met = values[-1] >= best - END_POINTS
        rows.append({"task": task, "score": kind, "best": best, "best_step": best_step, "final": values[-1],
                     "final_step": points[-1][0], "met": bool(met)})
    return rows


def sampler_decisions(curves: dict[str, list[tuple[int, float]]], tasks) -> dict[str, dict]:
    """Per task: the steps its boost was above 1 and its largest share, from the logged sampler state."""
    out = {}
    for task in tasks:
        boosts = curves.get(f"sampler/{task}/boost", [])
        shares = curves.get(f"sampler/{task}/share", [])
        out[task] = {"boosted_at": [s for s, b in boosts if b > 1 + 1e-9],
                     "max_share": max((v for _, v in shares), default=None),
                     "final_share": shares[-1][1] if shares else None}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/core_check.py", description=__doc__.split("\n")[0])
    parser.add_argument("--run", default="runs/core_cpu", help="the run folder (default: %(default)s)")
    parser.add_argument("--ckpt", help="the checkpoint to evaluate (default: RUN/checkpoints/last.ckpt)")
    parser.add_argument("--val-batches", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--out", help="write the numbers as JSON here")
    args = parser.parse_args(argv)
    run = Path(args.run)
    ckpt = Path(args.ckpt) if args.ckpt else run / "checkpoints" / "last.ckpt"
    if not ckpt.is_file():
        print(f"error: --run {run}: no checkpoint {ckpt}; train it first "
              "(python -m penguin.fit --config configs/core_cpu.yaml)", file=sys.stderr)
        return 2
    table = evaluate(ckpt, val_batches=args.val_batches, batch_size=args.batch_size)
    curves = read_curves(run)
    tasks = list(table)
    final, ends = final_targets(table), ends_at_best(curves, tasks)
    print(f"{'task':<20}{'metric':<24}{'value':>9}  target")
    for r in final:
        value = "—" if r["value"] is None else f"{r['value']:.4f}"
        print(f"{r['task']:<20}{r['metric']:<24}{value:>9}  {r['target']:<18}{'met' if r['met'] else 'MISSED'}")
    print(f"\n{'task':<20}{'score':<16}{'best':>9}{'at':>7}{'final':>9}  ends at its best")
    for r in ends:
        if r["best"] is None:
            print(f"{r['task']:<20}{r['score']:<16}{'—':>9}{'':>7}{'—':>9}  no curve")
            continue
        print(f"{r['task']:<20}{r['score']:<16}{r['best']:9.4f}{r['best_step']:7d}{r['final']:9.4f}  "
              f"{'yes' if r['met'] else 'NO'}")
    met = all(r["met"] for r in final) and all(r["met"] for r in ends)
    print(f"\nall targets met: {met}")
    if args.out:
        report = {"run": str(run), "ckpt": str(ckpt), "samples_per_task": args.val_batches * args.batch_size,
                  "final": final, "ends_at_best": ends, "sampler": sampler_decisions(curves, tasks),
                  "evaluate": table, "all_met": met}
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
