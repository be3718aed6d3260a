"""The core learning check: did a `configs/core_cpu.yaml` run bring all eleven core tasks to
their targets, and did any task end worse than its own best?

    python -m penguin.fit --config configs/core_cpu.yaml                # runs/core_cpu
    python bench/core_check.py --run runs/core_cpu                      # prints the table
    python bench/core_check.py --run runs/core_cpu --out bench/core_cpu.json

The final numbers are `python -m penguin.evaluate`'s (`penguin.evaluate.evaluate`) on the run's
last checkpoint, over 16 validation batches of 32 — 512 samples per task, the task's fixed
validation seeds. The questions' validation sets are balanced over their answers by the tasks
themselves (`balanced`, see each task's docstring); each question's chance level on the same
samples (evaluate's `chance_exact_acc`: a kind's most frequent answer, ≈ 0.5) is printed beside it.

| task                    | target (final, 512 samples)                                         |
|-------------------------|---------------------------------------------------------------------|
| each of `QUESTIONS`     | exact accuracy ≥ 0.90                                               |
| `arrow`                 | edit ratio ≤ 0.35, copy step MSE ≤ 0.002, draw step MSE ≤ 0.005     |
| `control`               | reconstruction MSE ≤ 0.003                                          |
| `language`              | perplexity below the unigram model's of the same pool               |

**Ends at its best**: no task's final score is more than 3 points below its best — exact accuracy
for a question, `1 − edit ratio` for the arrow — and no other task's final validation loss is more
than 10 % above its best. "Best" is the task's best checkpoint of the run (`best:<task>`, the
lowest validation loss, `callbacks/best_checkpoint.py`) evaluated on the same 512 samples as the
last one: picking the highest of the run's validation points instead would measure their noise
(128 samples each in core_cpu: a standard error of 2–4 points at 0.9) as much as forgetting. The
curves' own best and final points are printed beside it.

With `--out FILE.json` it writes the numbers as JSON and, beside it, `FILE.png`: every task's
validation score against the step (exact accuracy, `1 − edit ratio`; `control` and `language`,
which have no score, as their loss over their first loss) and the sampler's shares under it. These are learning results, not timed tests:
record them in `bench/RESULTS.md` with the machine, date, command and commit.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from callbacks.best_checkpoint import MANIFEST, read_manifest, resolve_checkpoint  # noqa: E402
from penguin.bench_forgetting import BOOSTED, score_curve  # noqa: E402
from penguin.curves_png import COLOURS, frame, polyline  # noqa: E402
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

    def row(task, metric, value, target, met, chance=None):
        rows.append({"task": task, "metric": metric, "value": value, "target": target, "met": bool(met),
                     "chance": chance})

    for task in QUESTIONS:
        value = table.get(task, {}).get("exact_acc")
        row(task, "exact_acc", value, f">= {ACCURACY}", value is not None and value >= ACCURACY,
            table.get(task, {}).get("chance_exact_acc"))
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


def score(metrics: dict[str, float]) -> tuple[str, float | None]:
    """A task's score for "ends at its best": exact accuracy, `1 − edit ratio`, or the loss."""
    if "exact_acc" in metrics:
        return "exact_acc", metrics["exact_acc"]
    if "edit_ratio" in metrics:
        return "1 - edit_ratio", 1 - metrics["edit_ratio"]
    return "loss", metrics.get("loss")


def ended_at_best(kind: str, best: float, final: float) -> bool:
    if kind == "loss":
        return final <= best * (1 + END_LOSS)
    return final >= best - END_POINTS


def ends_at_best(final_table: dict[str, dict[str, float]], best_tables: dict[str, tuple[int, dict]],
                 curves: dict[str, list[tuple[int, float]]]) -> list[dict]:
    """Per task: its score at the end and at its best checkpoint (both from evaluate), whether it
    ended within `END_POINTS` (or `END_LOSS` of its loss) of the best, and the curves' own best and
    final points for comparison."""
    rows = []
    for task, metrics in final_table.items():
        kind, final = score(metrics)
        step, best_metrics = best_tables.get(task, (None, {}))
        _, best = score(best_metrics)
        points = curves.get(f"val/{task}/loss", []) if kind == "loss" else score_curve(curves, task)
        curve_best = (min if kind == "loss" else max)(points, key=lambda p: p[1]) if points else (None, None)
        rows.append({"task": task, "score": kind, "final": final, "best": best, "best_step": step,
                     "met": final is not None and best is not None and ended_at_best(kind, best, final),
                     "curve_best": curve_best[1], "curve_best_step": curve_best[0],
                     "curve_final": points[-1][1] if points else None})
    return rows


def sampler_decisions(curves: dict[str, list[tuple[int, float]]], tasks) -> dict[str, dict]:
    """Per task: the validations after which its boost was at least `BOOSTED` (the boost decays
    towards 1 geometrically and never quite reaches it), its largest and its final share."""
    out = {}
    for task in tasks:
        boosts = curves.get(f"sampler/{task}/boost", [])
        shares = curves.get(f"sampler/{task}/share", [])
        out[task] = {"boosted_at": [s for s, b in boosts if b >= BOOSTED],
                     "max_share": max((v for _, v in shares), default=None),
                     "final_share": shares[-1][1] if shares else None}
    return out


def chart(curves: dict[str, list[tuple[int, float]]], tasks) -> Image.Image:
    """The PNG of `--out`: scores above, sampler shares below, a legend (see the module docstring)."""
    w, h, share_h, m = 640, 260, 120, 30
    legend_h = 14 * len(tasks) + 10
    image = Image.new("RGB", (w + 2 * m, h + share_h + 3 * m + legend_h), "white")
    draw = ImageDraw.Draw(image)
    steps = max([s for points in curves.values() for s, _ in points] + [1])
    colour = {t: COLOURS[i % len(COLOURS)] for i, t in enumerate(tasks)}
    draw.text((m, 6), "validation score (0 to 1); control, language: loss / first loss", fill="black")
    frame(draw, m, m, w, h, steps)
    for t in tasks:
        points = score_curve(curves, t)
        if not points:
            loss = curves.get(f"val/{t}/loss", [])
            points = [(s, v / loss[0][1]) for s, v in loss] if loss and loss[0][1] > 0 else []
        polyline(draw, m, m, w, h, points, steps, colour[t], 2)
    y_share = m + h + m
    shares = {t: curves.get(f"sampler/{t}/share", []) for t in tasks}
    top = math.ceil(max([v for points in shares.values() for _, v in points] + [0.1]) * 10) / 10
    draw.text((m, y_share - 14), f"sampler shares (0 to {top:.1f})", fill="black")
    frame(draw, m, y_share, w, share_h, steps, top=f"{top:.1f}")
    for t in tasks:
        polyline(draw, m, y_share, w, share_h, [(s, v / top) for s, v in shares[t]], steps, colour[t], 2)
    y = y_share + share_h + m
    for i, t in enumerate(tasks):
        draw.line((m, y + 14 * i + 6, m + 20, y + 14 * i + 6), fill=colour[t], width=2)
        draw.text((m + 26, y + 14 * i), t, fill="black")
    return image


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/core_check.py", description=__doc__.split("\n")[0])
    parser.add_argument("--run", default="runs/core_cpu", help="the run folder (default: %(default)s)")
    parser.add_argument("--ckpt", help="the checkpoint to evaluate (default: RUN/checkpoints/last.ckpt)")
    parser.add_argument("--val-batches", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--out", help="write the numbers as JSON here")
    args = parser.parse_args(argv)
    for flag, value in (("--val-batches", args.val_batches), ("--batch-size", args.batch_size)):
        if value < 1:
            print(f"error: {flag}: expected a positive integer, got {value}", file=sys.stderr)
            return 2
    run = Path(args.run)
    ckpt = Path(args.ckpt) if args.ckpt else run / "checkpoints" / "last.ckpt"
    if not ckpt.is_file():
        print(f"error: --run {run}: no checkpoint {ckpt}; train it first "
              "(python -m penguin.fit --config configs/core_cpu.yaml)", file=sys.stderr)
        return 2
    try:
        table = evaluate(ckpt, val_batches=args.val_batches, batch_size=args.batch_size)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    curves = read_curves(run)
    tasks = list(table)
    best_tables = {}
    for task in tasks:
        try:
            best = resolve_checkpoint(f"best:{task}", run)
            step = read_manifest(best.parent / MANIFEST)["tasks"][task]["step"]
            best_tables[task] = (step, evaluate(best, tasks=[task], val_batches=args.val_batches,
                                                batch_size=args.batch_size)[task])
        except ValueError as e:  # no manifest, or a best file that cannot be read: no "best" for it
            print(f"warning: {e}", file=sys.stderr)
    final, ends = final_targets(table), ends_at_best(table, best_tables, curves)
    print(f"{'task':<20}{'metric':<24}{'value':>9}  target")
    for r in final:
        value = "—" if r["value"] is None else f"{r['value']:.4f}"
        chance = "" if r["chance"] is None else f"  (chance {r['chance']:.3f})"
        print(f"{r['task']:<20}{r['metric']:<24}{value:>9}  {r['target']:<18}{'met' if r['met'] else 'MISSED'}{chance}")
    print(f"\n{'task':<20}{'score':<16}{'best ckpt':>10}{'step':>7}{'final':>9}  ends at its best"
          f"   (curve: best, step, final)")
    for r in ends:
        if r["best"] is None or r["final"] is None:
            print(f"{r['task']:<20}{r['score']:<16}{'—':>10}{'':>7}{'—':>9}  no best checkpoint")
            continue
        curve = "" if r["curve_best"] is None else (
            f"   ({r['curve_best']:.4f}, {r['curve_best_step']}, {r['curve_final']:.4f})")
        print(f"{r['task']:<20}{r['score']:<16}{r['best']:10.4f}{r['best_step']:7d}{r['final']:9.4f}  "
              f"{'yes' if r['met'] else 'NO':<16}{curve}")
    met = all(r["met"] for r in final) and all(r["met"] for r in ends)
    print(f"\nall targets met: {met}")
    if args.out:
        report = {"run": str(run), "ckpt": str(ckpt), "samples_per_task": args.val_batches * args.batch_size,
                  "curves": {k: v for k, v in curves.items() if k.startswith(("val/", "sampler/"))},
                  "final": final, "ends_at_best": ends,
                  "best_checkpoints": {t: {"step": s, "evaluate": m} for t, (s, m) in best_tables.items()}, "sampler": sampler_decisions(curves, tasks),
                  "evaluate": table, "all_met": met}
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
        chart(curves, tasks).save(Path(args.out).with_suffix(".png"))
        print(f"wrote {args.out} and {Path(args.out).with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
