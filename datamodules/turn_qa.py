"""`turn_qa` — which way should you turn to face (or face away from) the gold or the line?

Skill: the sign of an angle difference. A blue line is drawn from the agent's rim at a uniform
angle φ in every sample, so the model must read which object the question names. docs/game.md:
turning toward angle α is clockwise iff `(α − θ) mod 2π < π`; "away" turns toward α + π.

| question kind         | prompt (canonical)                                      | target angle α          |
|-----------------------|---------------------------------------------------------|-------------------------|
| `turn_to_gold`        | "which way should you turn to face the gold?"           | agent→gold direction    |
| `turn_away_from_gold` | "which way should you turn to face away from the gold?" | agent→gold + π          |
| `turn_to_line`        | "which way should you turn to face the line?"           | φ                       |
| `turn_away_from_line` | "which way should you turn to face away from the line?" | φ + π                   |

Answer: `<clock>` iff clockwise toward α, else `<anticlock>`. Near-ties (α within one turn step,
π/30, of straight ahead or straight behind) have no clear answer and are redrawn. Input: a bare
scene with the line. Loss: answer CE. Label rates: kinds uniform, answers ≈ 50/50 (exactly with
`balanced=True`).
"""
from __future__ import annotations

import math

import torch

from datamodules.base import TaskDataModule
from datamodules.registry import register
from penguin.episode import ANSWER_ONLY, EpisodeSpec, View
from penguin.game import geometry
from penguin.game.sampling import sample_bare, sample_line
from penguin.text.prompts import QuestionKind

TURN_TO_GOLD = QuestionKind(
    "turn_to_gold",
    rule=("<clock> iff turn_toward(φ_gold) is clockwise: (φ_gold − θ) mod 2π < π; <anticlock> "
          "otherwise; near-ties (within π/30 of 0 or π) are rejected by the task"),
    canonical=("which way should you turn to face the gold?",
               "turn to face the gold: which way?"),
    paraphrases=("how do you turn toward the gold?",
                 "which turn brings you to face the gold?",
                 "to look at the gold, which way do you turn?"),
    answers=("<clock>", "<anticlock>"),
)

TURN_AWAY_FROM_GOLD = QuestionKind(
    "turn_away_from_gold",
    rule=("the inverse of turn_to_gold: <anticlock> iff (φ_gold − θ) mod 2π < π, <clock> otherwise "
          "(turning away means bringing θ + π onto φ_gold); near-ties rejected"),
    canonical=("which way should you turn to face away from the gold?",
               "turn your back to the gold: which way?"),
    paraphrases=("how do you turn away from the gold?",
                 "which turn puts the gold behind you?",
                 "to look away from the gold, which way do you turn?"),
    answers=("<clock>", "<anticlock>"),
)

TURN_TO_LINE = QuestionKind(
    "turn_to_line",
    rule=("<clock> iff turn_toward(φ_line) is clockwise: (φ_line − θ) mod 2π < π; <anticlock> "
          "otherwise; near-ties rejected"),
    canonical=("which way should you turn to face the line?",
               "turn to face the line: which way?"),
    paraphrases=("how do you turn toward the line?",
                 "which turn brings you to face the line?",
                 "to look along the line, which way do you turn?"),
    answers=("<clock>", "<anticlock>"),
)

TURN_AWAY_FROM_LINE = QuestionKind(
    "turn_away_from_line",
    rule=("the inverse of turn_to_line: <anticlock> iff (φ_line − θ) mod 2π < π, <clock> otherwise; "
          "near-ties rejected"),
    canonical=("which way should you turn to face away from the line?",
               "turn your back to the line: which way?"),
    paraphrases=("how do you turn away from the line?",
                 "which turn puts the line behind you?",
                 "to look away from the line, which way do you turn?"),
    answers=("<clock>", "<anticlock>"),
)

KINDS = (TURN_TO_GOLD, TURN_AWAY_FROM_GOLD, TURN_TO_LINE, TURN_AWAY_FROM_LINE)


def draw_uniform_line(generator: torch.Generator, batch: int) -> tuple:
    scene = sample_bare(generator, batch)
    return (scene, *sample_line(generator, scene))


def turn_target(scene, line_angle, kind_names: tuple[str, ...], kind: torch.Tensor) -> torch.Tensor:
    """The angle α each sample's question asks to turn toward."""
    gold = geometry.gold_direction(scene)
    by_kind = {"turn_to_gold": gold, "turn_away_from_gold": gold + math.pi,
               "turn_to_line": line_angle, "turn_away_from_line": line_angle + math.pi}
    table = torch.stack([by_kind[k] for k in kind_names], 1)
    return geometry.wrap_angle(table[torch.arange(len(kind)), kind])


@register
class TurnQA(TaskDataModule):
    name = "turn_qa"
    description = "which way to turn to face / face away from the gold or the line: <clock> or <anticlock>"
    label_names = ("<clock>", "<anticlock>")
    question_kinds = KINDS
    default_weights = ANSWER_ONLY

    def sample(self, generator: torch.Generator, batch: int) -> EpisodeSpec:
        def answer(items, kind):
            scene, angle, _ = items
            target = turn_target(scene, angle, self.kinds, kind)
            clockwise = geometry.turn_clockwise_toward(scene.heading, target)
            ans = 1 - clockwise.long()
            return torch.where(geometry.turn_is_ambiguous(scene.heading, target), -1, ans)

        asked = self.ask(generator, batch, draw_uniform_line, answer)
        scene, angle, length = asked.items
        return self.qa_spec(generator, asked, View.of(scene, line_angle=angle, line_length=length, line_mask=True))
