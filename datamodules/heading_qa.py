"""`heading_qa` — which way are you facing, in image directions?

Skill: read the agent's own heading θ from the drawing (the red eye's place on the green body,
docs/game.md), the quantity every egocentric question (`egocentric_side_qa`, `facing_gold_qa`,
`turn_qa`, `next_move_qa`, `line_facing_qa`) relates to something else. This task asks for the
heading alone, so a mix can teach it directly instead of only through those relations.

| question kind       | prompt (canonical)                                   | answer rule                                   |
|---------------------|------------------------------------------------------|-----------------------------------------------|
| `facing_left_right` | "are you facing left or right?"                      | `left` iff cos θ < 0, else `right`            |
| `facing_up_down`    | "are you facing up or down?"                         | `up` iff sin θ < 0 (y grows down), else `down` |
| `facing_which_way`  | "which way are you facing: left, right, up or down?" | the image direction nearest to θ              |

Together the three kinds place θ in one of eight 45° sectors. Near-ties (θ within one turn step,
π/30, of a kind's boundary: straight up or down for `facing_left_right`, straight left or right for
`facing_up_down`, a diagonal for `facing_which_way`) are redrawn. Input: a bare scene. Target: the
answer (answer CE). Kinds uniform; each kind's answers exactly uniform with `balanced=True` (the
heading is uniform, so ≈ uniform without it too).
"""
from __future__ import annotations

import math

import torch

from datamodules.base import TaskDataModule
from datamodules.registry import register
from penguin.episode import ANSWER_ONLY, EpisodeSpec, View
from penguin.game import geometry
from penguin.game.sampling import sample_bare
from penguin.text.prompts import QuestionKind

FACING_LEFT_RIGHT = QuestionKind(
    "facing_left_right",
    rule="left iff cos θ < 0, else right (image directions); θ within π/30 of straight up or down is a tie",
    canonical=("are you facing left or right?",
               "in the image, are you facing left or right?"),
    paraphrases=("looking at the picture, do you face left or right?",
                 "horizontally, are you facing left or right?",
                 "does your eye point to the left or to the right?"),
    answers=("left", "right"),
)

FACING_UP_DOWN = QuestionKind(
    "facing_up_down",
    rule="up iff sin θ < 0, else down (image directions, y grows down); θ within π/30 of straight left "
         "or right is a tie",
    canonical=("are you facing up or down?",
               "in the image, are you facing up or down?"),
    paraphrases=("looking at the picture, do you face up or down?",
                 "vertically, are you facing up or down?",
                 "does your eye point up or down?"),
    answers=("up", "down"),
)

FACING_WHICH_WAY = QuestionKind(
    "facing_which_way",
    rule="the image direction nearest to θ: right (|θ| < π/4), down, left or up; θ within π/30 of a "
         "diagonal is a tie",
    canonical=("which way are you facing: left, right, up or down?",
               "in the image, which way do you face: left, right, up or down?"),
    paraphrases=("which image direction is closer to your heading: left, right, up or down?",
                 "where does your eye point: left, right, up or down?",
                 "looking at the picture, which way do you face: left, right, up or down?"),
    answers=("left", "right", "up", "down"),
)

KINDS = (FACING_LEFT_RIGHT, FACING_UP_DOWN, FACING_WHICH_WAY)

# index into `answers` of the direction nearest to θ, by quarter turns from θ = 0 (right, down, left, up)
_NEAREST = torch.tensor([1, 3, 0, 2])


def heading_answers(heading: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each kind's answer index `[B]` (into its `answers`) for headings `[B]`, −1 at a near-tie."""
    tie = math.sin(geometry.TURN_ANGLE)
    cos, sin = heading.cos(), heading.sin()
    quarter = geometry.wrap_angle(heading + math.pi / 4)  # [0, π/2) is "right", [π/2, π) "down", …
    from_axis = (torch.remainder(quarter, math.pi / 2) - math.pi / 4).abs()  # 0 at an axis, π/4 at a diagonal
    nearest = _NEAREST[(quarter // (math.pi / 2)).long().clamp(max=3)]
    return {
        "facing_left_right": torch.where(cos.abs() < tie, -1, (cos >= 0).long()),
        "facing_up_down": torch.where(sin.abs() < tie, -1, (sin >= 0).long()),
        "facing_which_way": torch.where(from_axis > math.pi / 4 - geometry.TURN_ANGLE, -1, nearest),
    }


@register
class HeadingQA(TaskDataModule):
    name = "heading_qa"
    description = "which way are you facing: left/right, up/down, or the nearest of the four (image directions)"
    label_names = ("left", "right", "up", "down")
    question_kinds = KINDS
    default_weights = ANSWER_ONLY
    line_is_distractor = True

    def sample(self, generator: torch.Generator, batch: int) -> EpisodeSpec:
        def answer(scene, kind):
            return self.answer_of_kind(heading_answers(scene.heading), kind)

        asked = self.ask(generator, batch, sample_bare, answer)
        return self.qa_spec(generator, asked, View.of(asked.items))
