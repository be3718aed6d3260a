"""`arrow` — draw the line from you to the gold.

Skill: connect two objects in the image. Each episode has two steps in a random order per
sample: a **draw** step ("draw the line from you to the gold" → the same scene with a blue line
from the agent's rim to the gold's rim) and a **copy** step ("show the room" → the scene as it
is). The copy step keeps the plain reconstruction honest, so the line is drawn because it was
asked for, not always.

| question kind       | prompt (canonical)                     | target                          |
|---------------------|----------------------------------------|---------------------------------|
| `draw_line_to_gold` | "draw the line from you to the gold"   | the scene with `line_to_gold`   |
| `copy_scene`        | "show the room"                        | the scene                       |

Input: a bare scene at both steps. Loss terms: image (MSE) + a small LM term on the prompt.
Label rates: none (image targets).
"""
from __future__ import annotations

import torch

from datamodules.base import TaskDataModule
from datamodules.registry import register
from penguin.episode import EpisodeSpec, TermWeights, View, text_step
from penguin.game.sampling import sample_bare
from penguin.text.prompts import QuestionKind

DRAW_LINE_TO_GOLD = QuestionKind(
    "draw_line_to_gold",
    rule="target: the same scene with the line to the gold drawn (agent rim → gold rim)",
    canonical=("draw the line from you to the gold",
               "draw a line to the gold"),
    paraphrases=("connect yourself to the gold with a line",
                 "show the line from you to the gold",
                 "mark the way to the gold with a line"),
)

COPY_SCENE = QuestionKind(
    "copy_scene",
    rule="target: the input scene itself (plain reconstruction)",
    canonical=("show the room",
               "copy the scene"),
    paraphrases=("draw the room as it is",
                 "reproduce the picture",
                 "show the scene again"),
)

KINDS = (DRAW_LINE_TO_GOLD, COPY_SCENE)


@register
class Arrow(TaskDataModule):
    name = "arrow"
    description = "draw the line from you to the gold (with a plain copy step, random order)"
    question_kinds = KINDS
    kinds_are_fixed = True
    default_weights = TermWeights(image=1.0, answer=0.0, lm=0.02, value=0.0, slot=0.0, kind=1.0)

    def sample(self, generator: torch.Generator, batch: int) -> EpisodeSpec:
        scene = sample_bare(generator, batch)
        draw_first = torch.rand(batch, generator=generator) < 0.5
        reply = self.replies.ids[torch.zeros(batch, dtype=torch.long)]
        view = View.of(scene)
        steps = []
        for draws in (draw_first, ~draw_first):
            kind = (~draws).long()  # 0 = draw_line_to_gold, 1 = copy_scene
            steps.append(text_step(self.questions.draw(generator, kind), reply, answer_loss=False,
                                   pad_id=self.tokenizer.pad_id, input=view,
                                   target=View.of(scene, line_to_gold=draws), question=kind))
        return self.spec(*steps)
