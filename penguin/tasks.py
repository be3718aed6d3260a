"""`python -m penguin.tasks` — look at what a task feeds the brain.

    python -m penguin.tasks list
    python -m penguin.tasks show side_qa [--n 8] [--size 128] [--seed 0] [--out tasks_out]
    python -m penguin.tasks --task-modules my_tasks.py list      # with tasks of your own

`list` prints every registered task with its one-line description. `--task-modules` (before the
command) imports task modules from outside the package first: module names or `.py` paths
(`docs/adding_a_task.md`).

`show TASK` draws `n` samples of training batch 0 (rank 0) for `seed` and writes

- `OUT/TASK.png`: one row per step of each sample (a multi-step episode is a block of rows, one
  under the other): the step's input image and target image (where there is one), and to their
  right the prompt, the answer, the step's place in the episode and the target kind, wrapped in
  full, the row as tall as its tiles or its caption;
- `OUT/TASK.jsonl`: one line per sample with everything needed to check a label by hand::

      {"task": ..., "seed": ..., "index": i,
       "steps": [{"scene": <docs/game.md "Scene JSON">,
                  "target_scene": the target's own scene where it differs (a moved or turned agent), else null,
                  "view": {<render option>: value, ...} or null,
                  "target_view": ... (the same, for the target image),
                  "overlay": {"kind": "line_to_gold" | "line" | "corners", "angle": φ, "length": ℓ} or null,
                  "target_overlay": ... (the same, for the target image),
                  "question": <question kind> or null, "prompt": str, "answer": str or null,
                  "target": what the step is scored on: "answer", "image", "readout", "value",
                            "slot" or "lm", or several joined by " + " (e.g. "answer + image"),
                  "value_target": the value head's target or null,
                  "facts": {name: value, ...} or null (the step's `facts`: how it was made, e.g. the
                           move program executed, the greedy trace length, which earlier step a
                           recall target shows)}]}

  `view` holds the input view's rendering options (the fields of `penguin.game.render.View`)
  that differ from their defaults, e.g. `{"zoom_center": [x, y], "zoom_factor": f}` or
  `{"hide_gold": true}`; null when none do or there is no input. `overlay` is the blue overlay the
  image shows; for `line_to_gold`, `angle` is the agent→gold direction and `length` the rim-to-rim
  distance.

An unknown task is a one-line error listing the valid names.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path

import torch
from PIL import Image, ImageDraw, ImageFont

from datamodules import registry
from penguin.episode import EpisodeSpec, View
from penguin.game.geometry import gold_direction, gold_distance
from penguin.game.render import OPTIONS
from penguin.game.scene import AGENT_RADIUS, GOLD_RADIUS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m penguin.tasks", description=__doc__.split("\n")[0])
    parser.add_argument("--task-modules", action="append", default=[], metavar="MODULE",
                        help="a task module of your own to import first (a module name or a .py path; "
                             "repeat the option or separate with commas for several)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="every registered task with its description")
    show = sub.add_parser("show", help="write a labelled PNG grid and a JSONL of a task's samples")
    show.add_argument("task")
    show.add_argument("--n", type=int, default=8, help="number of samples (default 8)")
    show.add_argument("--size", type=int, default=128, help="image size in pixels (default 128)")
    show.add_argument("--seed", type=int, default=0)
    show.add_argument("--out", default="tasks_out", help="output folder (default tasks_out)")
    args = parser.parse_args(argv)
    try:
        registry.load_modules([m for given in args.task_modules for m in given.split(",") if m],
                              origin="--task-modules")
        if args.command == "list":
            for name in registry.names():
                cls = registry.get(name)
                print(f"{name:20s} {cls.description}")
            return 0
        paths = show_task(args.task, n=args.n, size=args.size, seed=args.seed, out=Path(args.out))
        print("\n".join(str(p) for p in paths))
        return 0
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def show_task(task: str, *, n: int = 8, size: int = 128, seed: int = 0, out: Path = Path("tasks_out")) -> list[Path]:
    """Write `out/TASK.png` and `out/TASK.jsonl` (see the module docstring); returns both paths."""
    if n < 1:
        raise ValueError(f"--n: expected a positive number of samples, got {n}")
    module = registry.get(task)(image_size=size, batch_size=n, seed=seed)
    spec = module.train_batch(0)
    episode = spec.render(size)
    records = describe(spec, module.tokenizer, seed)
    out.mkdir(parents=True, exist_ok=True)
    jsonl = out / f"{task}.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in records))
    png = out / f"{task}.png"
    _grid(episode, records, size).save(png)
    return [png, jsonl]


def describe(spec: EpisodeSpec, tokenizer, seed: int) -> list[dict]:
    """One JSON-ready record per sample of `spec` (see the module docstring)."""
    records = [{"task": spec.task, "seed": seed, "index": i, "steps": []} for i in range(spec.batch_size)]
    for step in spec.steps:
        view = step.input if step.input is not None else step.target
        scenes = view.scene.to_json() if view is not None else _NONE
        overlays, target_overlays = _overlays(step.input), _overlays(step.target)
        views, target_views = _views(step.input), _views(step.target)
        moved = step.input is not None and step.target is not None and step.target.scene is not step.input.scene
        target_scenes = step.target.scene.to_json() if moved else _NONE
        for i, record in enumerate(records):
            answer = _text(tokenizer, step.reply_ids[i])
            question = None
            if step.question is not None and step.question[i] >= 0:
                question = spec.question_kinds[int(step.question[i])]
            record["steps"].append({
                "scene": scenes[i], "target_scene": target_scenes[i], "view": views[i], "target_view": target_views[i],
                "overlay": overlays[i], "target_overlay": target_overlays[i],
                "question": question,
                "prompt": _text(tokenizer, step.prompt_ids[i]),
                "answer": answer if bool(step.answer_mask[i].any()) else None,
                "target": _target_kind(step, i),
                "value_target": None if step.value_target is None else float(step.value_target[i]),
                "facts": {name: _at(value, i) for name, value in (step.facts or {}).items()} or None,
            })
    return records


def _text(tokenizer, ids) -> str:
    """Decoded text without the framing tokens (`<s>`, `<sep>`, `</s>`, `<pad>`); action tokens stay."""
    framing = {tokenizer.bos_id, tokenizer.sep_id, tokenizer.eos_id, tokenizer.pad_id}
    return tokenizer.decode([t for t in ids.tolist() if t not in framing]).strip()


class _Nothing(list):
    """Stands for "None for every sample" where a step has no view."""

    def __getitem__(self, index):
        return None


_NONE = _Nothing()


def _target_kind(step, i: int) -> str:
    """What sample `i` of `step` is scored on, e.g. "answer" or "answer + image" (full_move's steps)."""
    kinds = [name for name, present in (
        ("answer", bool(step.answer_mask[i].any())),
        ("readout", step.readout is not None),  # no target image: the drawing's read-out is scored
        ("image", step.target is not None and step.readout is None),
        ("value", step.value_target is not None),
        ("slot", step.slot_target is not None),
    ) if present]
    return " + ".join(kinds) or "lm"


def _at(value, i: int):
    """Sample `i`'s value of a view option (a per-sample tensor or a batch-wide value), as JSON."""
    if isinstance(value, torch.Tensor):
        return value[i].tolist()
    return list(value) if isinstance(value, tuple) else value


_DEFAULTS = {f.name: _at(f.default, 0) for f in fields(View) if f.name in OPTIONS}  # as JSON values


def _views(view: View | None) -> list[dict | None]:
    """Per sample, every option of `view` that differs from its default, or None."""
    if view is None:
        return _NONE
    out = []
    for i in range(view.scene.batch_size):
        changed = {name: _at(getattr(view, name), i) for name in OPTIONS}
        changed = {name: value for name, value in changed.items() if value != _DEFAULTS[name]}
        out.append(changed or None)
    return out


def _overlays(view: View | None) -> list[dict | None]:
    """Per sample, the blue overlay `view` draws (the module docstring's "overlay"), or None."""
    if view is None:
        return _NONE
    angle, dist = gold_direction(view.scene), gold_distance(view.scene)
    line = view.line_drawn
    out: list[dict | None] = []
    for i in range(view.scene.batch_size):
        if _at(view.line_to_gold, i):
            out.append({"kind": "line_to_gold", "angle": float(angle[i]),
                        "length": float(dist[i]) - AGENT_RADIUS - GOLD_RADIUS})
        elif _at(line, i):
            out.append({"kind": "line", "angle": float(_at(view.line_angle, i)),
                        "length": float(_at(view.line_length, i))})
        elif _at(view.corners, i):
            out.append({"kind": "corners", "angle": None, "length": None})
        else:
            out.append(None)
    return out


# ---------------------------------------------------------------------------- the PNG
_PAD = 6  # pixels between tiles, rows and the canvas edge
_MIN_WIDTH = 360  # the narrowest canvas, so a one-tile task still has room for its captions


def caption_font() -> ImageFont.ImageFont:
    """The font of the captions: PIL's default font."""
    return ImageFont.load_default()


def line_height(font: ImageFont.ImageFont) -> int:
    """Pixels from one caption line to the next; 2 px more than the font's ascent and descent keep
    the lines apart."""
    ascent, descent = font.getmetrics()
    return ascent + descent + 2


def wrap_caption(text: str, width: int, font: ImageFont.ImageFont) -> list[str]:
    """`text` in lines of at most `width` pixels of `font`, broken at spaces; a word wider than a
    line is broken between characters. Nothing is lost: the lines hold every character of `text`
    but its spaces, in order (joined with spaces they give `text` back when no word was broken)."""
    lines, line = [], ""
    for word in text.split():
        joined = f"{line} {word}" if line else word
        if font.getlength(joined) <= width:
            line = joined
            continue
        if line:
            lines.append(line)
        while len(word) > 1 and font.getlength(word) > width:
            cut = 1  # the longest prefix that fits, and at least one character
            while font.getlength(word[:cut + 1]) <= width:
                cut += 1
            lines.append(word[:cut])
            word = word[cut:]
        line = word
    if line or not lines:
        lines.append(line)
    return lines


def captions(info: dict, width: int, font: ImageFont.ImageFont, step: int = 0,
             steps: int = 1) -> list[tuple[str, tuple[int, int, int]]]:
    """The caption lines of one step of one sample, with their colours: the prompt and the answer
    (black), then the step's place in the episode and the target kind (grey), each wrapped to
    `width` pixels."""
    label = info["prompt"] + (f" -> {info['answer']}" if info["answer"] is not None else "")
    note = (f"step {step + 1} of {steps}, " if steps > 1 else "") + f"target: {info['target']}"
    return ([(line, (0, 0, 0)) for line in wrap_caption(label, width, font)]
            + [(line, (90, 90, 90)) for line in wrap_caption(note, width, font)])


def layout(episode, size: int) -> tuple[list[int], int, int]:
    """Where the PNG puts things: the tile columns' left edges (input, then target, for the
    columns some step uses), the captions' left edge and their width in pixels."""
    columns = [k for k, present in enumerate((any(s.image is not None for s in episode.steps),
                                              any(s.image_target is not None for s in episode.steps)))
               if present] or [0]
    xs = [_PAD + j * (size + _PAD) for j in range(len(columns))]
    caption_x = _PAD + len(columns) * (size + _PAD)
    return xs, caption_x, max(_MIN_WIDTH - caption_x, 3 * size)


def _grid(episode, records: list[dict], size: int) -> Image.Image:
    """One row per step of every sample (a sample's steps one under the other, samples apart by
    another `_PAD`): the step's input tile, its target tile, and its captions to their right.
    A row is as tall as its tiles or its captions, whichever is taller."""
    font = caption_font()
    line_h = line_height(font)
    xs, caption_x, room = layout(episode, size)
    n_steps = len(episode.steps)
    rows = [[captions(info, room, font, s, n_steps) for s, info in enumerate(record["steps"])]
            for record in records]
    heights = [[max(size, line_h * len(lines)) + _PAD for lines in row] for row in rows]
    canvas = Image.new("RGB", (caption_x + room + _PAD, _PAD + sum(sum(h) + _PAD for h in heights)),
                       (235, 235, 235))
    draw = ImageDraw.Draw(canvas)
    y = _PAD
    has_input = any(s.image is not None for s in episode.steps)
    for i, (row, row_heights) in enumerate(zip(rows, heights)):
        for step, lines, height in zip(episode.steps, row, row_heights):
            for column, tile in ((0, step.image), (int(has_input), step.image_target)):
                if tile is not None:
                    pixels = (tile[i].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()
                    canvas.paste(Image.fromarray(pixels), (xs[column], y))
            for j, (line, colour) in enumerate(lines):
                draw.text((caption_x, y + j * line_h), line, fill=colour, font=font)
            y += height
        y += _PAD
    return canvas


if __name__ == "__main__":
    raise SystemExit(main())
