"""`egocentric_side_qa` — is the gold on your left or on your right, relative to your heading?

Skill: take the agent's point of view. In the agent frame (docs/game.md), `l = d · (−sin θ, cos θ)`
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
from penguin.text.prompts import QuestionKind

GOLD_ON_YOUR_SIDE = QuestionKind(
    "gold_on_your_side",
    rule=("relative to the heading θ: right iff (φ_gold − θ) mod 2π ∈ (0, π), i.e. the gold lies "
          "clockwise of the heading (the agent's right is θ + π/2 with y down); left otherwise; gold "
          "dead ahead or behind is a tie the task rejects"),
    canonical=("relative to your heading, is the gold on your left or on your right?",
               "as you face now, is the gold on your left or on your right?"),
    paraphrases=("from your own point of view, is the gold on your left or on your right?",
                 "from where you are looking, is the gold on your left or on your right?",
                 "is the gold on your left hand side or on your right hand side?"),
    answers=("left", "right"),
)

KINDS = (GOLD_ON_YOUR_SIDE,)


@register
class EgocentricSideQA(TaskDataModule):
    name = "egocentric_side_qa"
    description = "is the gold on your left or on your right, relative to your heading"
    label_names = ("left", "right")
    question_kinds = KINDS
    default_weights = ANSWER_ONLY
    line_is_distractor = True

    def sample(self, generator: torch.Generator, batch: int) -> EpisodeSpec:
        def answer(scene, kind):
            tie = geometry.turn_is_ambiguous(scene.heading, geometry.gold_direction(scene))
            return torch.where(tie, -1, 1 - geometry.gold_on_agents_left(scene).long())

        asked = self.ask(generator, batch, sample_bare, answer)
        return self.qa_spec(generator, asked, View.of(asked.items))
