"""`line_facing_qa` — are you facing the blue line?

Skill: compare the heading with a drawn direction. A blue line starts at the agent's rim at angle
φ (length U(0.15, 0.35)); GAME.md: `facing_line(φ)` ⟺ circular `|φ − θ| < π/6`.

| question kind | prompt (canonical)         | answer rule                           |
|---------------|----------------------------|---------------------------------------|
| `facing_line` | "are you facing the line?" | `yes` iff `facing_line(φ)`, else `no` |

Input: a bare scene with the line. Target: the answer (answer CE). Label rates: φ lies inside
the ±π/6 cone for half the samples by construction (uniform inside, uniform outside), so
`yes` ≈ 50 % with or without `balanced`.
"""
from __future__ import annotations

import math

import torch

from datamodules.base import TaskDataModule
from datamodules.registry import register
from penguin.episode import ANSWER_ONLY, EpisodeSpec, View
from penguin.game import geometry
from penguin.game.sampling import sample_bare

KINDS = ("facing_line",)
LINE_LENGTH = (0.15, 0.35)


def draw_line(generator: torch.Generator, batch: int) -> tuple:
    """A bare scene and a line `(φ, ℓ)` from the agent's rim: half inside the facing cone."""
    scene = sample_bare(generator, batch)
    cone = geometry.FACING_LINE_HALF_ANGLE
    inside = torch.rand(batch, generator=generator) < 0.5
    offset_in = (2 * torch.rand(batch, generator=generator) - 1) * cone
    offset_out = cone + torch.rand(batch, generator=generator) * (2 * math.pi - 2 * cone)
    angle = geometry.wrap_angle(scene.heading + torch.where(inside, offset_in, offset_out))
    lo, hi = LINE_LENGTH
    length = lo + (hi - lo) * torch.rand(batch, generator=generator)
    return scene, angle, length


def line_view(scene, angle, length) -> View:
    return View.of(scene, line_angle=angle, line_length=length, line_mask=True)


@register
class LineFacingQA(TaskDataModule):
    name = "line_facing_qa"
    description = "are you facing the blue line (within pi/6 of your heading)? yes/no"
    label_names = ("yes", "no")
    kinds = KINDS
    default_weights = ANSWER_ONLY

    def sample(self, generator: torch.Generator, batch: int) -> EpisodeSpec:
        def answer(items, kind):
            scene, angle, _ = items
            return 1 - geometry.facing_line(scene.heading, angle).long()

        asked = self.ask(generator, batch, draw_line, answer)
        return self.qa_spec(generator, asked, line_view(*asked.items))
