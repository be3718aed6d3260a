"""`next_move_qa` — will going straight collect the gold, which way to turn, what is your next move?

Skill: the greedy oracle's decision, asked three ways (docs/game.md predicates).

| question kind           | prompt (canonical)                                  | answer rule                                   |
|-------------------------|-----------------------------------------------------|-----------------------------------------------|
| `straight_collects`     | "will going straight collect the gold?"             | `yes` iff `facing_gold`                       |
| `turn_toward_gold_word` | "in words, which way do you turn toward the gold?"  | `clockwise` iff `turn_toward(gold direction)` is clockwise, else `anticlockwise` |
| `next_move`             | "what is your next move?"                           | `greedy_move`: `<forward>`, `<clock>` or `<anticlock>` |

Near-ties of the turn (gold within π/30 of straight ahead or behind) are redrawn for the turning
questions (for `next_move` only when the agent is not facing the gold). Input: a bare scene. Loss:
answer CE. Label rates: kinds uniform; with `balanced=True` (default) every answer of a kind is
equally likely — `yes` and `<forward>` are rare otherwise (≈ 8 %).
"""
from __future__ import annotations

import torch

from datamodules.base import TaskDataModule
from datamodules.registry import register
from penguin.episode import ANSWER_ONLY, EpisodeSpec, View
from penguin.game import geometry
from penguin.game.sampling import sample_bare
from penguin.text.prompts import QuestionKind

STRAIGHT_COLLECTS = QuestionKind(
    "straight_collects",
    rule=("yes iff facing_gold (going straight ahead collects it; bare scenes have no wall between "
          "agent and gold); no otherwise"),
    canonical=("will going straight collect the gold?",
               "if you walk straight ahead, will you collect the gold?"),
    paraphrases=("does walking forward get you the gold?",
                 "will moving forward reach the gold?",
                 "can you collect the gold by going straight?"),
    answers=("yes", "no"),
)

TURN_TOWARD_GOLD_WORD = QuestionKind(
    "turn_toward_gold_word",
    rule=("clockwise iff (φ_gold − θ) mod 2π < π, anticlockwise otherwise — the rule of turn_to_gold, "
          "answered in words; near-ties rejected"),
    canonical=("in words, which way do you turn toward the gold?",
               "clockwise or anticlockwise toward the gold?"),
    paraphrases=("name the direction to turn toward the gold.",
                 "say in words how to turn toward the gold.",
                 "should you turn clockwise or anticlockwise toward the gold?"),
    answers=("clockwise", "anticlockwise"),
)

NEXT_MOVE = QuestionKind(
    "next_move",
    rule=("greedy_move: <forward> if facing_gold, else the turn toward the gold (<clock> iff (φ_gold − "
          "θ) mod 2π < π, else <anticlock>)"),
    canonical=("what is your next move?",
               "what should you do next?"),
    paraphrases=("which move comes next?",
                 "choose your next move.",
                 "what is the best next move?"),
    answers=("<forward>", "<clock>", "<anticlock>"),
)

KINDS = (STRAIGHT_COLLECTS, TURN_TOWARD_GOLD_WORD, NEXT_MOVE)


@register
class NextMoveQA(TaskDataModule):
    name = "next_move_qa"
    description = "will going straight collect the gold, which way to turn toward it, what is your next move"
    label_names = ("yes", "no", "clockwise", "anticlockwise", "<forward>", "<clock>", "<anticlock>")
    question_kinds = KINDS
    default_weights = ANSWER_ONLY
    line_is_distractor = True

    def sample(self, generator: torch.Generator, batch: int) -> EpisodeSpec:
        def answer(scene, kind):
            facing = geometry.facing_gold(scene)
            direction = geometry.gold_direction(scene)
            clockwise = geometry.turn_clockwise_toward(scene.heading, direction)
            tie = geometry.turn_is_ambiguous(scene.heading, direction)
            straight = 1 - facing.long()                                  # yes, no
            word = torch.where(tie, -1, 1 - clockwise.long())             # clockwise, anticlockwise
            move = torch.where(facing, 0, torch.where(tie, -1, torch.where(clockwise, 1, 2)))  # <forward>, <clock>, <anticlock>
            by_kind = {"straight_collects": straight, "turn_toward_gold_word": word, "next_move": move}
            return self.answer_of_kind(by_kind, kind)

        asked = self.ask(generator, batch, sample_bare, answer)
        return self.qa_spec(generator, asked, View.of(asked.items))
