"""Image grids of what the brain saw, what it should draw, and what it drew.

`prediction_grid(episode, outputs, n)` → float `[3, H, W]`: for each step with an image target,
one block of `n` rows, each row `input | target | prediction` (a white tile where a step has no
input image). A read-out step (no target image, a `ReadoutGoal`) shows in the target column the
scene read out of the prediction (`read_out`, rendered: `readout_scene`), framed red where that
read-out misses the goal (`satisfied`) and green where it meets it. TensorBoard (`images/<task>`) and `python -m penguin.evaluate` (PNG) use it.
"""
from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image
from torch import Tensor

from penguin.brain.step import BrainOutput
from penguin.episode import Episode, EpisodeStep
from penguin.game.readout import read_out
from penguin.game.readout_goal import readout_scene, satisfied
from penguin.game.render import render

_FRAME = 2  # px of the met / missed frame around a read-out tile


def prediction_grid(episode: Episode, outputs: list[BrainOutput], n: int = 4) -> Tensor | None:
    blocks = []
    for step, out in zip(episode.steps, outputs):
        if out.image is None or (step.image_target is None and step.readout is None):
            continue
        target = step.image_target[:n].float() if step.image_target is not None else _read_out_tiles(step, out.image[:n])
        source = step.image[:n].float() if step.image is not None else torch.ones_like(target)
        pad = torch.full_like(target[..., :2], 0.5)  # a grey gap between the three columns
        rows = torch.cat([source, pad, target, pad, out.image[:n].float().clamp(0, 1)], dim=3)
        blocks.append(torch.cat(list(rows), dim=1))
    if not blocks:
        return None
    return torch.cat(blocks, dim=1).detach().cpu()


def _read_out_tiles(step: EpisodeStep, prediction: Tensor) -> Tensor:
    """The rendered read-out scene of each prediction, framed green (goal met) or red (missed)."""
    with torch.no_grad():
        prediction = prediction.float().clamp(0, 1)
        n = len(prediction)
        goal = step.readout[:n]
        read = read_out(prediction)
        tiles = render(readout_scene(goal, read), prediction.shape[-1])
        met = satisfied(goal, read).view(n, 1, 1, 1)
        colour = torch.where(met, prediction.new_tensor([0.0, 0.7, 0.0]).view(1, 3, 1, 1),
                             prediction.new_tensor([0.9, 0.0, 0.0]).view(1, 3, 1, 1))
        frame = torch.ones_like(tiles[:, :1], dtype=torch.bool)
        frame[..., _FRAME:-_FRAME, _FRAME:-_FRAME] = False
        return torch.where(frame, colour, tiles)


def save_png(image: Tensor, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = (image.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    Image.fromarray(pixels).save(path)
    return path
