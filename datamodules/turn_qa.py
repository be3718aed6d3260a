"""`turn_qa` — which way should you turn to face (or face away from) the gold or the line?

Skill: the sign of an angle difference. A blue line is drawn from the agent's rim at a uniform
angle φ in every sample, so the model must read which object the question names. GAME.md:
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
from datamodules.line_facing_qa import LINE_LENGTH, line_view
from datamodules.registry import register
from penguin.episode import ANSWER_ONLY, EpisodeSpec
from penguin.game import geometry
from penguin.game.sampling import sample_bare

KINDS = ("turn_to_gold", "turn_away_from_gold", "turn_to_line", "turn_away_from_line")


def draw_uniform_line(generator: torch.Generator, batch: int) -> tuple:
    scene = sample_bare(generator, batch)
    angle = 2 * math.pi * torch.rand(batch, generator=generator)
    lo, hi = LINE_LENGTH
    return scene, angle, lo + (hi - lo) * torch.rand(batch, generator=generator)


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
    kinds = KINDS
    default_weights = ANSWER_ONLY

    def sample(self, generator: torch.Generator, batch: int) -> EpisodeSpec:
        def answer(items, kind):
            scene, angle, _ = items
            target = turn_target(scene, angle, self.kinds, kind)
            clockwise = geometry.turn_clockwise_toward(scene.heading, target)
            ans = 1 - clockwise.long()
            return torch.where(geometry.turn_is_ambiguous(scene.heading, target), -1, ans)

        asked = self.ask(generator, batch, draw_uniform_line, answer)
        return self.qa_spec(generator, asked, line_view(*asked.items))
