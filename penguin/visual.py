"""Image grids of what the brain saw, what it should draw, and what it drew.

`prediction_grid(episode, outputs, n)` → float `[3, H, W]`: for each step with an image target,
one block of `n` rows, each row `input | target | prediction` (a white tile where a step has no
input image). TensorBoard (`images/<task>`) and `python -m penguin.evaluate` (PNG) use it.
"""
from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image
from torch import Tensor

from penguin.brain.step import BrainOutput
from penguin.episode import Episode


def prediction_grid(episode: Episode, outputs: list[BrainOutput], n: int = 4) -> Tensor | None:
    blocks = []
    for step, out in zip(episode.steps, outputs):
        if step.image_target is None or out.image is None:
            continue
        target = step.image_target[:n].float()
        source = step.image[:n].float() if step.image is not None else torch.ones_like(target)
        pad = torch.full_like(target[..., :2], 0.5)  # a grey gap between the three columns
        rows = torch.cat([source, pad, target, pad, out.image[:n].float().clamp(0, 1)], dim=3)
        blocks.append(torch.cat(list(rows), dim=1))
    if not blocks:
        return None
    return torch.cat(blocks, dim=1).detach().cpu()


def save_png(image: Tensor, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = (image.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    Image.fromarray(pixels).save(path)
    return path
