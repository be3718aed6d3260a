"""`near_gold_qa` — are you near the gold?

Skill: judge distance. GAME.md: `near` ⟺ `|gold − agent| < 0.15` (centre to centre).

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
from penguin.episode import EpisodeSpec, TermWeights, View
from penguin.game import geometry
from penguin.game.sampling import sample_bare

KINDS = ("near_gold",)


@register
class NearGoldQA(TaskDataModule):
    name = "near_gold_qa"
    description = "are you near the gold (closer than 0.15)? yes/no"
    label_names = ("yes", "no")
    default_weights = TermWeights(image=0.0, answer=1.0, lm=0.0, value=0.0, slot=0.0)

    def __init__(self, **common) -> None:
        super().__init__(**common)
        self.questions = self.question_set(KINDS)

    def sample(self, generator: torch.Generator, batch: int) -> EpisodeSpec:
        asked = self.ask(generator, batch, KINDS, sample_bare,
                         lambda scene, kind: 1 - geometry.near(scene).long())
        return self.qa_spec(generator, self.questions, asked, View.of(asked.items))
