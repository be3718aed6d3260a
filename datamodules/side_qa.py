"""`side_qa` — where is the gold, in image directions?

Skill: relate two objects along the image axes. Directions are **image** directions (docs/game.md):
x grows right, y grows down; agent-relative sides are `egocentric_side_qa`.

| question kind      | prompt (canonical)                   | answer rule                              |
|--------------------|--------------------------------------|------------------------------------------|
| `gold_left_right`  | "is the gold left or right of you?"  | `left` iff `gold.x < agent.x`, else `right` |
| `gold_up_down`     | "is the gold up or down from you?"   | `up` iff `gold.y < agent.y`, else `down`  |
| `agent_left_right` | "are you left or right of the gold?" | `left` iff `agent.x < gold.x`, else `right` |
| `agent_up_down`    | "are you up or down from the gold?"  | `up` iff `agent.y < gold.y`, else `down`  |

Input: a bare scene. Target: the answer tokens (answer CE; optional LM on the prompt).
Label rates: kinds uniform; each kind's two answers ≈ 50 % naturally, exactly 50 % with
`balanced=True`. Option `kinds` restricts the question kinds asked (e.g. only left/right).
"""
from __future__ import annotations

import torch

from datamodules.base import TaskDataModule
from datamodules.registry import register
from penguin.episode import ANSWER_ONLY, EpisodeSpec, View
from penguin.game import geometry
from penguin.game.sampling import sample_bare
from penguin.text.prompts import QuestionKind

GOLD_LEFT_RIGHT = QuestionKind(
    "gold_left_right",
    rule="left iff gold.x < agent.x, else right (image directions; ties have probability zero)",
    canonical=("is the gold left or right of you?",
               "in the image, is the gold left or right of you?"),
    paraphrases=("looking at the picture, is the gold left or right of you?",
                 "horizontally, is the gold left or right of you?",
                 "is the gold to the left or to the right of you in the image?"),
    answers=("left", "right"),
)

GOLD_UP_DOWN = QuestionKind(
    "gold_up_down",
    rule="up iff gold.y < agent.y, else down (image directions, y grows down)",
    canonical=("is the gold up or down from you?",
               "in the image, is the gold above or below you?"),
    paraphrases=("looking at the picture, is the gold above or below you?",
                 "vertically, is the gold up or down from you?",
                 "is the gold higher or lower than you in the image?"),
    answers=("up", "down"),
)

AGENT_LEFT_RIGHT = QuestionKind(
    "agent_left_right",
    rule="left iff agent.x < gold.x, else right (image directions: the mirror of gold_left_right)",
    canonical=("are you left or right of the gold?",
               "in the image, are you left or right of the gold?"),
    paraphrases=("looking at the picture, are you left or right of the gold?",
                 "horizontally, are you left or right of the gold?",
                 "are you to the left or to the right of the gold in the image?"),
    answers=("left", "right"),
)

AGENT_UP_DOWN = QuestionKind(
    "agent_up_down",
    rule="up iff agent.y < gold.y, else down (image directions: the mirror of gold_up_down)",
    canonical=("are you up or down from the gold?",
               "in the image, are you above or below the gold?"),
    paraphrases=("looking at the picture, are you above or below the gold?",
                 "vertically, are you up or down from the gold?",
                 "are you higher or lower than the gold in the image?"),
    answers=("up", "down"),
)

KINDS = (GOLD_LEFT_RIGHT, GOLD_UP_DOWN, AGENT_LEFT_RIGHT, AGENT_UP_DOWN)


@register
class SideQA(TaskDataModule):
    name = "side_qa"
    description = "is the gold left/right/up/down of you, and are you left/right/up/down of it (image directions)"
    label_names = ("left", "right", "up", "down")
    question_kinds = KINDS
    default_weights = ANSWER_ONLY
    line_is_distractor = True

    def sample(self, generator: torch.Generator, batch: int) -> EpisodeSpec:
        def answer(scene, kind):
            rules = {"gold_left_right": geometry.gold_left, "gold_up_down": geometry.gold_up,
                     "agent_left_right": geometry.agent_left, "agent_up_down": geometry.agent_up}
            first = self.answer_of_kind({k: rules[k](scene) for k in self.kinds}, kind)  # "left"/"up" is index 0
            return 1 - first.long()

        asked = self.ask(generator, batch, sample_bare, answer)
        return self.qa_spec(generator, asked, View.of(asked.items))

