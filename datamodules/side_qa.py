"""`side_qa` — where is the gold, in image directions?

Skill: relate two objects along the image axes. Directions are **image** directions (GAME.md):
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

KINDS = ("gold_left_right", "gold_up_down", "agent_left_right", "agent_up_down")


@register
class SideQA(TaskDataModule):
    name = "side_qa"
    description = "is the gold left/right/up/down of you, and are you left/right/up/down of it (image directions)"
    label_names = ("left", "right", "up", "down")
    default_weights = ANSWER_ONLY

    def __init__(self, *, kinds: list[str] | None = None, **common) -> None:
        self.kinds = _check_kinds(kinds, KINDS, self.name)
        super().__init__(**common)

    def sample(self, generator: torch.Generator, batch: int) -> EpisodeSpec:
        def answer(scene, kind):
            rules = {"gold_left_right": geometry.gold_left, "gold_up_down": geometry.gold_up,
                     "agent_left_right": geometry.agent_left, "agent_up_down": geometry.agent_up}
            first = torch.stack([rules[k](scene) for k in self.kinds], 1)  # "left"/"up" answers are index 0
            return 1 - first[torch.arange(len(kind)), kind].long()

        asked = self.ask(generator, batch, sample_bare, answer)
        return self.qa_spec(generator, asked, View.of(asked.items))


def _check_kinds(kinds: list[str] | None, valid: tuple[str, ...], task: str) -> tuple[str, ...]:
    if kinds is None:
        return valid
    bad = [k for k in kinds if k not in valid]
    if bad or not kinds:
        raise ValueError(f"{task}.kinds: {bad or 'empty'} not valid; choose from {', '.join(valid)}")
    return tuple(kinds)
