"""Which object does a checkpoint's brain turn toward? A crossover of the turn questions and the
two objects they can name, the gold and the blue line.

    python bench/distractor_crossover.py --ckpt runs/core_cpu/checkpoints/last.ckpt
    python bench/distractor_crossover.py --ckpt CKPT --batches 16 --out bench/core_cpu/crossover.json

`turn_qa` always draws the line and asks about the gold or the line; `next_move_qa` never draws
it. Both ask "which way do you turn toward the gold?" (`turn_qa`'s `turn_to_gold`, answered
`<clock>`/`<anticlock>`; `next_move_qa`'s `turn_toward_gold_word`, answered `clockwise`/
`anticlockwise`). Each is evaluated on its own validation scenes as trained, and with the other
task's scenes: the line taken away from `turn_qa`'s, a line drawn into `next_move_qa`'s (angle and
length from `sample_line`, as `turn_qa` draws it). `turn_to_line` and `line_facing_qa` are
evaluated as trained and with the gold hidden. Rows of a task the run did not train are skipped;
a run without `turn_qa` is refused. Where a question's accuracy moves with the other
object's presence, the brain's direction to one object is confused by the other; where it does
not, what it misses is elsewhere (the wording, the heading).

Rows also report how often the answer agrees with the turn toward the *other* object
(`agrees_with_other`; 0.5 when the two are unrelated): near 1 means the brain answered about the
wrong object. Accuracy is `exact_acc`'s (every answer token the argmax, teacher-forced), on the
checkpoint's averaged weights where it holds them (`penguin.evaluate.load_checkpoint`).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.checkpoint_cli import add_arguments, load_module  # noqa: E402
from datamodules import registry  # noqa: E402
from penguin.evaluate import load_checkpoint  # noqa: E402
from penguin.game import geometry  # noqa: E402
from penguin.game.sampling import sample_line  # noqa: E402

# (task, kind, variant, the other object's turn the answer is compared with)
ROWS = (
    ("turn_qa", "turn_to_gold", "as trained", "line"),
    ("turn_qa", "turn_to_gold", "no line", None),
    ("next_move_qa", "turn_toward_gold_word", "as trained", None),
    ("next_move_qa", "turn_toward_gold_word", "with line", "line"),
    ("turn_qa", "turn_to_line", "as trained", "gold"),
    ("turn_qa", "turn_to_line", "no gold", None),
    ("line_facing_qa", "facing_line", "as trained", None),
    ("line_facing_qa", "facing_line", "no gold", None),
)
LINE_SEED = 10_000  # the lines drawn into next_move_qa's scenes: generator LINE_SEED + batch index


def altered(view, variant: str, batch_index: int):
    """`view` as the row's variant shows it."""
    batch = view.scene.heading.shape[0]
    if variant == "no line":
        return dataclasses.replace(view, line_mask=torch.zeros(batch, dtype=torch.bool))
    if variant == "no gold":
        return dataclasses.replace(view, hide_gold=torch.ones(batch, dtype=torch.bool))
    if variant == "with line":
        angle, length = sample_line(torch.Generator().manual_seed(LINE_SEED + batch_index), view.scene)
        return dataclasses.replace(view, line_angle=angle, line_length=length,
                                   line_mask=torch.ones(batch, dtype=torch.bool))
    return view


def other_turn(view, other: str) -> torch.Tensor:
    """True where turning clockwise is the shorter way toward the other object."""
    target = view.line_angle if other == "line" else geometry.gold_direction(view.scene)
    return geometry.turn_clockwise_toward(view.scene.heading, target)


def row(module, task: str, kind: str, variant: str, other: str | None, batches: int) -> dict:
    data = registry.get(task)(kinds=[kind], val_batches=batches, batch_size=32,
                              image_size=module.brain.config.image_size)
    # the first answer token names the turn; the kind's first answer is the clockwise one
    clockwise_id = int(data.replies.ids[data.label_index(data.kind(kind).answers[0])][1])
    hits = agrees = answered = 0
    for b in range(batches):
        spec = data.val_batch(b)
        step = spec.steps[0]
        view = altered(step.input, variant, b)
        episode = dataclasses.replace(spec, steps=(dataclasses.replace(step, input=view),)).render(data.image_size)
        with torch.no_grad():
            logits = module.run(episode).outputs[0].text_logits
        reply, mask = episode.steps[0].reply_ids, episode.steps[0].answer_mask
        predicted = logits.argmax(-1)[:, :-1]
        hits += int(((predicted == reply[:, 1:]) | ~mask).all(1).sum())
        answered += len(reply)
        if other is not None:
            said_clockwise = predicted[:, 0] == clockwise_id
            agrees += int((said_clockwise == other_turn(view, other)).sum())
    result = {"task": task, "kind": kind, "variant": variant, "exact_acc": hits / answered, "answers": answered}
    if other is not None:
        result["agrees_with_other"] = agrees / answered
        result["other"] = other
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser, "a checkpoint of a run that trained turn_qa (and, for their rows, next_move_qa "
                  "and line_facing_qa)", per=" per row")
    args = parser.parse_args(argv)
    module = load_module(parser, args, "turn_qa", load_checkpoint)
    rows = []
    for task, kind, variant, other in ROWS:
        if task not in module.task_names:
            print(f"{task:14s} {kind:22s} {variant:11s} skipped: not trained by this run", flush=True)
            continue
        rows.append(row(module, task, kind, variant, other, args.batches))
        r = rows[-1]
        agree = f"  agrees with the {other}'s turn {r['agrees_with_other']:.3f}" if other else ""
        print(f"{task:14s} {kind:22s} {variant:11s} {r['exact_acc']:.3f}{agree}", flush=True)
    if args.out:
        args.out.write_text(json.dumps({"ckpt": str(args.ckpt), "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
