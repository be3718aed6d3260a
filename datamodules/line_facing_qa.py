"""`line_facing_qa` — are you facing the blue line?

Skill: compare the heading with a drawn direction. A blue line starts at the agent's rim at angle
φ (length U(0.15, 0.35)); docs/game.md: `facing_line(φ)` ⟺ circular `|φ − θ| < π/6`.

| question kind | prompt (canonical)         | answer rule                           |
|---------------|----------------------------|---------------------------------------|
| `facing_line` | "are you facing the line?" | `yes` iff `facing_line(φ)`, else `no` |

Input: a bare scene with the line. Target: the answer (answer CE). Label rates: φ lies inside
the ±π/6 cone for half the samples by construction (uniform inside, uniform outside), so
`yes` ≈ 50 % with or without `balanced`.
"""
from __future__ import annotations

import torch

from datamodules.base import TaskDataModule
from datamodules.registry import register
from penguin.episode import ANSWER_ONLY, EpisodeSpec, View
from penguin.game import geometry
from penguin.game.sampling import sample_bare, sample_line
from penguin.text.prompts import QuestionKind

FACING_LINE = QuestionKind(
    "facing_line",
    rule=("yes iff facing_line(φ): the circular difference |φ − θ| < π/6, φ the blue line's angle; no "
          "otherwise"),
    canonical=("are you facing the line?",
               "is the blue line in front of you?"),
    paraphrases=("are you looking along the line?",
                 "do you face the blue line?",
                 "does the line point where you are looking?"),
    answers=("yes", "no"),
)

KINDS = (FACING_LINE,)
def draw_line(generator: torch.Generator, batch: int) -> tuple:
    """A bare scene and a line `(φ, ℓ)` from the agent's rim: half inside the facing cone."""
    scene = sample_bare(generator, batch)
    return (scene, *sample_line(generator, scene, facing_share=0.5))


@register
class LineFacingQA(TaskDataModule):
    name = "line_facing_qa"
    description = "are you facing the blue line (within pi/6 of your heading)? yes/no"
    label_names = ("yes", "no")
    question_kinds = KINDS
    default_weights = ANSWER_ONLY

    def sample(self, generator: torch.Generator, batch: int) -> EpisodeSpec:
        def answer(items, kind):
            scene, angle, _ = items
            return 1 - geometry.facing_line(scene.heading, angle).long()

        asked = self.ask(generator, batch, draw_line, answer)
        scene, angle, length = asked.items
        return self.qa_spec(generator, asked, View.of(scene, line_angle=angle, line_length=length, line_mask=True))
