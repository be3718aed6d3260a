"""`python -m penguin.tasks show`: one row per step, captions wrapped and drawn in full, the JSONL
decodes every rendering option of `View`.

The PNG is read back as pixels: each step's tiles must be the rendered images, and the caption
beside them must hold one band of ink per wrapped line, each as wide as its text — a caption cut
short, a missing step row, or a row too short for its lines, fails."""
import json
from dataclasses import fields

import numpy as np
import pytest
import torch
from PIL import Image

from datamodules import registry
from penguin.episode import EpisodeSpec, View, text_step
from penguin.game.render import OPTIONS
from penguin.tasks import caption_font, captions, describe, layout, line_height, main as tasks_main, wrap_caption


def test_wrap_caption_keeps_every_word_and_fits_the_width():
    font = caption_font()
    text = "which way should you turn to face away from the gold? -> <anticlockwise>"
    for width in (40, 64, 134, 354):
        lines = wrap_caption(text, width, font)
        assert all(font.getlength(line) <= width for line in lines)
        assert "".join(lines).replace(" ", "") == text.replace(" ", "")
        if max(font.getlength(word) for word in text.split()) <= width:  # no word broken
            assert " ".join(lines) == text
        assert (len(lines) > 1) == (font.getlength(text) > width)
    word = "x" * 80  # wider than a line: broken between characters, nothing lost
    lines = wrap_caption(f"a {word} b", 64, font)
    assert "".join(lines).replace(" ", "") == f"a{word}b" and all(font.getlength(line) <= 64 for line in lines)
    assert wrap_caption("", 64, font) == [""]


def find_tile(image: np.ndarray, tile: np.ndarray, x: int, y_from: int) -> int:
    """The row at which `tile` sits in `image` with its left edge at column `x`, from `y_from` on."""
    size = tile.shape[0]
    for y in range(y_from, image.shape[0] - size + 1):
        if np.array_equal(image[y:y + size, x:x + size], tile):
            return y
    raise AssertionError(f"tile not found at x={x} below y={y_from}")


def ink_bands(area: np.ndarray) -> list[tuple[int, int, int, int]]:
    """`(top, bottom, left, right)` of each run of rows of `area [H, W, 3]` holding text ink."""
    ink = area.min(axis=2) < 170
    rows = ink.any(axis=1)
    bands, start = [], None
    for r, on in enumerate(list(rows) + [False]):
        if on and start is None:
            start = r
        elif not on and start is not None:
            cols = ink[start:r].any(axis=0).nonzero()[0]
            bands.append((start, r, int(cols[0]), int(cols[-1])))
            start = None
    return bands


def uint8(tile: torch.Tensor) -> np.ndarray:
    return (tile.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()


@pytest.mark.parametrize("task", ["turn_qa", "arrow"])
def test_show_png_holds_every_tile_and_caption_in_full(tmp_path, task):
    """One row per step: tiles where `layout` says, then the captions, one ink band per line."""
    size, n = 64, 6
    assert tasks_main(["show", task, "--n", str(n), "--size", str(size), "--out", str(tmp_path)]) == 0
    image = np.array(Image.open(tmp_path / f"{task}.png").convert("RGB"))
    records = [json.loads(line) for line in (tmp_path / f"{task}.jsonl").read_text().splitlines()]
    episode = registry.get(task)(image_size=size, batch_size=n, seed=0).train_batch(0).render(size)
    font = caption_font()
    line_h = line_height(font)
    xs, caption_x, room = layout(episode, size)
    assert image.shape[1] == caption_x + room + xs[0]

    y, longest = xs[0], 0  # the margin is the same at the top and the left
    for i, record in enumerate(records):
        assert len(record["steps"]) == len(episode.steps)
        for s, (step, info) in enumerate(zip(episode.steps, record["steps"])):
            tiles = [t for t in (step.image, step.image_target) if t is not None]
            for x, tile in zip(xs, tiles):
                assert np.array_equal(image[y:y + size, x:x + size], uint8(tile[i])), (i, s)
            lines = captions(info, room, font, s, len(episode.steps))
            label = info["prompt"] + (f" -> {info['answer']}" if info["answer"] is not None else "")
            assert " ".join(line for line, colour in lines if colour == (0, 0, 0)) == label
            height = max(size, line_h * len(lines)) + xs[0]
            bands = ink_bands(image[y:y + height, caption_x:caption_x + room])
            assert len(bands) == len(lines), (i, s, lines)
            for (top, bottom, left, right), (line, _) in zip(bands, lines):
                assert left <= 2 and abs(right + 1 - font.getlength(line)) <= 2, (i, s, line)
            if len(episode.steps) > 1:
                assert f"step {s + 1} of {len(episode.steps)}" in " ".join(line for line, _ in lines)
            longest = max(longest, len(lines))
            y += height
        y += xs[0]
    assert y == image.shape[0]
    assert longest >= 2


def test_jsonl_decodes_every_rendering_option():
    module = registry.get("side_qa")(batch_size=4)
    step = module.train_batch(0).steps[0]
    scene = step.input.scene
    changed = {}
    for f in fields(View)[1:]:  # a value other than the default for every option, every sample
        if isinstance(f.default, bool):
            changed[f.name] = not f.default
        elif isinstance(f.default, float):
            changed[f.name] = f.default + 0.5
        else:
            changed[f.name] = torch.tensor(f.default) + torch.tensor([0.125, -0.25])
    view = View.of(scene, **changed)
    spec = EpisodeSpec("probe", (text_step(step.prompt_ids, step.reply_ids, input=view, target=view),))
    for record in describe(spec, module.tokenizer, 0):
        decoded = record["steps"][0]
        assert set(decoded["view"]) == set(OPTIONS) and decoded["target_view"] == decoded["view"]
        for name in OPTIONS:
            assert decoded["view"][name] == pytest.approx(getattr(view, name)[record["index"]].tolist()), name
    plain = EpisodeSpec("probe", (text_step(step.prompt_ids, step.reply_ids, input=View.of(scene)),))
    assert all(r["steps"][0]["view"] is None and r["steps"][0]["target_view"] is None
               for r in describe(plain, module.tokenizer, 0))


@pytest.mark.parametrize("task", registry.names())
def test_show_works_for_every_task_one_row_per_step(tmp_path, task):
    n, size = 2, 32
    assert tasks_main(["show", task, "--n", str(n), "--size", str(size), "--out", str(tmp_path)]) == 0
    spec = registry.get(task)(batch_size=n, image_size=size, seed=0).train_batch(0)
    records = [json.loads(line) for line in (tmp_path / f"{task}.jsonl").read_text().splitlines()]
    assert len(records) == n and all(len(r["steps"]) == len(spec.steps) for r in records)
    for record in records:
        for step, info in zip(spec.steps, record["steps"]):
            scored = info["target"].split(" + ")
            assert set(scored) <= {"answer", "image", "value", "slot", "lm", "readout"}
            assert ("image" in scored) == (step.target is not None and step.readout is None)
            assert ("value" in scored) == (step.value_target is not None)
            assert (info["value_target"] is None) == (step.value_target is None)
            assert set(info["facts"] or {}) == set(step.facts or {})
    image = Image.open(tmp_path / f"{task}.png")
    assert image.size[1] >= n * len(spec.steps) * size  # every step of every sample has its row
