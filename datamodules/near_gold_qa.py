"""`near_gold_qa` — are you near the gold?

Skill: judge distance. docs/game.md: `near` ⟺ `|gold − agent| < 0.15` (centre to centre).

| question kind | prompt (canonical)        | answer rule                 |
|---------------|---------------------------|-----------------------------|
| `near_gold`   | "are you near the gold?"  | `yes` iff `near`, else `no` |

Input: a bare scene. Target: the answer (answer CE). Label rates: `yes` ≈ 10 % on bare scenes;
`balanced=True` (default) makes it 50 % by rejection sampling.
"""
from __future__ import annotations

import torch

from datamodules.base import TaskDataModule
from datamodules.registry import register
from penguin.episode import ANSWER_ONLY, EpisodeSpec, View
from penguin.game import geometry
from penguin.game.sampling import sample_bare
from penguin.text.prompts import QuestionKind

NEAR_GOLD = QuestionKind(
    "near_gold",
    rule="yes iff near: |gold − agent| < 0.15; no otherwise",
    canonical=("are you near the gold?",
               "is the gold close to you?"),
    paraphrases=("are you close to the gold?",
                 "is the gold near you?",
                 "is the gold nearby?"),
    answers=("yes", "no"),
)

KINDS = (NEAR_GOLD,)


@register
class NearGoldQA(TaskDataModule):
    name = "near_gold_qa"
    description = "are you near the gold (closer than 0.15)? yes/no"
    label_names = ("yes", "no")
    question_kinds = KINDS
    default_weights = ANSWER_ONLY
    line_is_distractor = True

    def sample(self, generator: torch.Generator, batch: int) -> EpisodeSpec:
        asked = self.ask(generator, batch, sample_bare,
                         lambda scene, kind: 1 - geometry.near(scene).long())
        return self.qa_spec(generator, asked, View.of(asked.items))
