"""`facing_gold_qa` — are you facing the gold?

Skill: judge whether going straight ahead collects the gold (walls ignored). docs/game.md:
`facing_gold` ⟺ `f > 0` and `|l| < r_a + r_g`, with `(f, l)` the gold in the agent frame.

| question kind | prompt (canonical)          | answer rule                         |
|---------------|-----------------------------|-------------------------------------|
| `facing_gold` | "are you facing the gold?"  | `yes` iff `facing_gold`, else `no`  |

Input: a bare scene. Target: the answer (answer CE). Label rates: `yes` is rare on bare scenes
(≈ 8 %); `balanced=True` (default) makes it 50 % by rejection sampling.
"""
from __future__ import annotations

import torch

from datamodules.base import TaskDataModule
from datamodules.registry import register
from penguin.episode import ANSWER_ONLY, EpisodeSpec, View
from penguin.game import geometry
from penguin.game.sampling import sample_bare
from penguin.text.prompts import QuestionKind

FACING_GOLD = QuestionKind(
    "facing_gold",
    rule=("yes iff facing_gold: f > 0 and |l| < r_a + r_g, with (f, l) = gold − agent in the agent "
          "frame (walls ignored); no otherwise"),
    canonical=("are you facing the gold?",
               "is the gold straight ahead of you?"),
    paraphrases=("are you looking at the gold?",
                 "do you face the gold?",
                 "is your eye pointed at the gold?"),
    answers=("yes", "no"),
)

KINDS = (FACING_GOLD,)


@register
class FacingGoldQA(TaskDataModule):
    name = "facing_gold_qa"
    description = "are you facing the gold (going straight ahead collects it)? yes/no"
    label_names = ("yes", "no")
    question_kinds = KINDS
    default_weights = ANSWER_ONLY
    line_is_distractor = True

    def sample(self, generator: torch.Generator, batch: int) -> EpisodeSpec:
        asked = self.ask(generator, batch, sample_bare,
                         lambda scene, kind: 1 - geometry.facing_gold(scene).long())
        return self.qa_spec(generator, asked, View.of(asked.items))
