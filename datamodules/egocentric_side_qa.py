"""`egocentric_side_qa` — is the gold on your left or on your right, relative to your heading?

Skill: take the agent's point of view. In the agent frame (GAME.md), `l = d · (−sin θ, cos θ)`
with `d = gold − agent` is how far the gold lies to the agent's **right** (θ grows clockwise in
the image, so the right-hand side is θ + π/2).

| question kind       | prompt (canonical)                                                    | answer rule               |
|---------------------|-----------------------------------------------------------------------|---------------------------|
| `gold_on_your_side` | "relative to your heading, is the gold on your left or on your right?" | `left` iff `l < 0`, else `right` |

Near-ties (the gold within one turn step, π/30, of straight ahead or straight behind) have no
clear side and are redrawn. Input: a bare scene. Target: the answer (answer CE). Label rates
≈ 50/50 naturally, exactly with `balanced=True`. Unlike `side_qa`, the answer changes when the agent turns around.
"""
from __future__ import annotations

import torch

from datamodules.base import TaskDataModule
from datamodules.registry import register
from penguin.episode import ANSWER_ONLY, EpisodeSpec, View
from penguin.game import geometry
from penguin.game.sampling import sample_bare

KINDS = ("gold_on_your_side",)


@register
class EgocentricSideQA(TaskDataModule):
    name = "egocentric_side_qa"
    description = "is the gold on your left or on your right, relative to your heading"
    label_names = ("left", "right")
    kinds = KINDS
    default_weights = ANSWER_ONLY

    def sample(self, generator: torch.Generator, batch: int) -> EpisodeSpec:
        def answer(scene, kind):
            tie = geometry.turn_is_ambiguous(scene.heading, geometry.gold_direction(scene))
            return torch.where(tie, -1, 1 - geometry.gold_on_agents_left(scene).long())

        asked = self.ask(generator, batch, sample_bare, answer)
        return self.qa_spec(generator, asked, View.of(asked.items))
