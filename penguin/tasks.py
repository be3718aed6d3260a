"""`python -m penguin.tasks` — look at what a task feeds the brain.

    python -m penguin.tasks list
    python -m penguin.tasks show side_qa [--n 8] [--size 128] [--seed 0] [--out tasks_out]

`list` prints every registered task with its one-line description and label rates.

`show TASK` draws `n` samples of training batch 0 (rank 0) for `seed` and writes

- `OUT/TASK.png`: one row per sample; for each step the input image and the target image (where
  there is one), with the prompt and the answer written under them;
- `OUT/TASK.jsonl`: one line per sample with everything needed to check a label by hand::

      {"task": ..., "seed": ..., "index": i,
       "steps": [{"scene": <scene JSON of GAME.md>,
                  "view": {"zoom_center": [x, y], "zoom_factor": f, "hide": [...]} or null,
                  "overlay": {"kind": "line_to_gold" | "line" | "corners", "angle": φ, "length": ℓ} or null,
                  "target_overlay": ... (the same, for the target image),
                  "question": <question kind> or null, "prompt": str, "answer": str or null,
                  "target": "answer" | "image" | "value" | "lm" | "slot"}]}

  For `line_to_gold`, `angle` is the agent→gold direction and `length` the rim-to-rim distance.

An unknown task is a one-line error listing the valid names.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from PIL import Image, ImageDraw, ImageFont

from datamodules import registry
from penguin.episode import EpisodeSpec, View
from penguin.game.geometry import gold_direction, gold_distance
from penguin.game.scene import AGENT_RADIUS, GOLD_RADIUS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m penguin.tasks", description=__doc__.split("\n")[0])
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
        view = step.input or step.target
        scenes = view.scene.to_json() if view is not None else _NONE
        overlays = _overlays(step.input)
        target_overlays = _overlays(step.target)
        views = _views(view)
        for i, record in enumerate(records):
            answer = _text(tokenizer, step.reply_ids[i])
            question = None
            if step.question is not None and step.question[i] >= 0:
                question = spec.question_kinds[int(step.question[i])]
            record["steps"].append({
                "scene": scenes[i], "view": views[i], "overlay": overlays[i], "target_overlay": target_overlays[i],
                "question": question,
                "prompt": _text(tokenizer, step.prompt_ids[i]),
                "answer": answer if bool(step.answer_mask[i].any()) else None,
                "target": _target_kind(step, i),
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
    if bool(step.answer_mask[i].any()):
        return "answer"
    if step.target is not None:
        return "image"
    if step.value_target is not None:
        return "value"
    if step.slot_target is not None:
        return "slot"
    return "lm"


def _views(view: View | None) -> list[dict | None]:
    if view is None:
        return _NONE
    out = []
    for i in range(view.scene.batch_size):
        hide = [name for name in ("agent", "gold", "walls") if bool(getattr(view, f"hide_{name}")[i])]
        zoomed = float(view.zoom_factor[i]) > 1
        if not zoomed and not hide:
            out.append(None)
            continue
        out.append({"zoom_center": view.zoom_center[i].tolist() if zoomed else None,
                    "zoom_factor": float(view.zoom_factor[i]), "hide": hide})
    return out


def _overlays(view: View | None) -> list[dict | None]:
    if view is None:
        return _NONE
    b = view.scene.batch_size
    angle, dist = gold_direction(view.scene), gold_distance(view.scene)
    out: list[dict | None] = []
    for i in range(b):
        if bool(view.line_to_gold[i]):
            out.append({"kind": "line_to_gold", "angle": float(angle[i]),
                        "length": float(dist[i]) - AGENT_RADIUS - GOLD_RADIUS})
        elif bool(view.line_mask[i]):
            out.append({"kind": "line", "angle": float(view.line_angle[i]), "length": float(view.line_length[i])})
        elif bool(view.corners[i]):
            out.append({"kind": "corners", "angle": None, "length": None})
        else:
            out.append(None)
    return out


def _grid(episode, records: list[dict], size: int) -> Image.Image:
    """Rows of samples; per step an input and a target tile, the text under them."""
    font = ImageFont.load_default()
    pad, text_h = 6, 30
    tiles_per_step = [(s.image is not None) + (s.image_target is not None) for s in episode.steps]
    step_w = [max(1, t) * (size + pad) for t in tiles_per_step]
    width = max(sum(step_w), 360)
    height = len(records) * (size + text_h + pad) + pad
    canvas = Image.new("RGB", (width + pad, height), (235, 235, 235))
    draw = ImageDraw.Draw(canvas)
    for i, record in enumerate(records):
        y = pad + i * (size + text_h + pad)
        x = pad
        for s, (step, info) in enumerate(zip(episode.steps, record["steps"])):
            x0 = x
            for tile in (step.image, step.image_target):
                if tile is None:
                    continue
                pixels = (tile[i].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()
                canvas.paste(Image.fromarray(pixels), (x, y))
                x += size + pad
            if x == x0:
                x += size + pad
            label = info["prompt"] + (f" -> {info['answer']}" if info["answer"] is not None else "")
            room = (width if len(episode.steps) == 1 else step_w[s]) // 6  # the default font is ~6 px a character
            draw.text((x0, y + size + 2), label[: max(20, room)], fill=(0, 0, 0), font=font)
            draw.text((x0, y + size + 15), f"target: {info['target']}", fill=(90, 90, 90), font=font)
    return canvas


if __name__ == "__main__":
    raise SystemExit(main())
