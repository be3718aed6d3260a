"""`value` — how good is this scene? The value head learns the discounted length of the greedy path.

Skill: judge a whole scene at a glance — how many moves the greedy oracle (turn toward the gold,
walk when facing it; docs/game.md) needs to collect the gold, or that it never will.

| question kind | prompt (canonical)            | target (value head)                                  |
|---------------|-------------------------------|------------------------------------------------------|
| `value`       | "how good is this scene?"     | `0.98 ** greedy_trace(scene).length`, `0` when stuck |

The prompt tells the brain which head is asked; the target is on `BrainOutput.value`, never in
text. "Stuck" is `penguin.game.oracle`'s: a forward move blocked by a wall (the gold sits where
the agent cannot reach it), or more than `CAP` = 256 moves (the agent orbits the gold, a step
jumping over the collection chord each pass) — `0.98 ** 256 < 0.006`, so the cap changes the
target by less than that. The trace is computed batched by the fast `greedy_trace`.

Input: a bare scene (`sample_bare`). Loss terms: value (MSE) + naming the kind; no answer, no
image. `facts`: `trace_length` (moves, the cap for an orbit) and `stuck`.

Target statistics (10,240 samples of seed 0): share stuck 6.1 % (0.45 % of all samples are
orbits cut at the cap); among the others the trace length has quartiles 11 / 19 / 27 moves (max
226), so the target has quartiles 0.58 / 0.68 / 0.80 among reachable scenes and 0.56 / 0.67 / 0.78
over all (mean 0.64). Sampling speed: 4,600–12,900 samples/s at batch 64 on one shared core
(the spread is the load of the machine).
"""
from __future__ import annotations

import torch

from datamodules.base import TaskDataModule
from datamodules.registry import register
from penguin.episode import EpisodeSpec, TermWeights, View, text_step
from penguin.game.oracle import greedy_trace
from penguin.game.sampling import sample_bare
from penguin.text.prompts import QuestionKind

DISCOUNT = 0.98
CAP = 256

VALUE = QuestionKind(
    "value",
    rule="value head target: 0.98 ** (greedy trace length) when the greedy oracle collects the gold, 0 when stuck",
    canonical=("how good is this scene?",
               "how good is this room?"),
    paraphrases=("how good is this scene for you?",
                 "how easy is this scene?"),
)

KINDS = (VALUE,)


def scene_value(length: torch.Tensor, stuck: torch.Tensor) -> torch.Tensor:
    """`0.98 ** length`, 0 where stuck — the target of the value head."""
    return torch.where(stuck, torch.zeros(length.shape), DISCOUNT ** length.double()).float()


@register
class Value(TaskDataModule):
    name = "value"
    description = "how good is this scene? value head -> 0.98 ** greedy trace length (0 if stuck)"
    question_kinds = KINDS
    kinds_are_fixed = True
    default_weights = TermWeights(image=0.0, answer=0.0, lm=0.0, value=1.0, slot=0.0, kind=1.0)

    def sample(self, generator: torch.Generator, batch: int) -> EpisodeSpec:
        scene = sample_bare(generator, batch)
        trace = greedy_trace(scene, CAP)
        kind = torch.zeros(batch, dtype=torch.long)
        reply = self.replies.ids[torch.zeros(batch, dtype=torch.long)]
        step = text_step(self.questions.draw(generator, kind), reply, answer_loss=False, lm_loss=False,
                         pad_id=self.tokenizer.pad_id, input=View.of(scene),
                         value_target=scene_value(trace.length, trace.stuck), question=kind,
                         facts={"trace_length": trace.length, "stuck": trace.stuck})
        return self.spec(step)
