"""`ReadoutTask` — the shared shape of the three read-out tasks (`readout_closer`,
`readout_further`, `readout_gold_upper_left`); not a task itself.

A read-out task has one question kind and one step: the whole room of a bare scene on which its
goal is feasible (`penguin.game.readout_goal.sample_goal_scenes`), a prompt of its kind, and **no
target image** — the step carries a `ReadoutGoal` (the goal kind and the input scene) and the
drawing's read-out is scored against it (`lit_modules/readout_loss.py`). `facts` record per sample
`input_distance` (the goal's measure on the input scene) and `bound` (the limit the read-out must
respect), which `tasks show` writes to its JSONL.

A subclass sets the task's `name`, `description`, `question_kinds` (one kind) and `goal` (one of
`penguin.game.readout_goal`'s goal kinds); weights are readout 1.0, a small LM term on the prompt
(0.02) and naming the kind.
"""
from __future__ import annotations

from typing import ClassVar

import torch

from datamodules.base import TaskDataModule
from penguin.episode import EpisodeSpec, TermWeights, View, text_step
from penguin.game.readout_goal import ReadoutGoal, bound, input_measure, sample_goal_scenes


class ReadoutTask(TaskDataModule):
    goal: ClassVar[int]
    kinds_are_fixed = False
    default_weights = TermWeights(image=0.0, answer=0.0, lm=0.02, value=0.0, slot=0.0, kind=1.0, readout=1.0)

    def sample(self, generator: torch.Generator, batch: int) -> EpisodeSpec:
        scene = sample_goal_scenes(generator, batch, self.goal)
        goal = ReadoutGoal.of(self.goal, scene)
        kind = torch.zeros(batch, dtype=torch.long)  # the one kind
        reply = self.replies.ids[torch.zeros(batch, dtype=torch.long)]
        step = text_step(self.questions.draw(generator, kind), reply, answer_loss=False,
                         pad_id=self.tokenizer.pad_id, input=View.of(scene), readout=goal, question=kind,
                         facts={"input_distance": input_measure(goal), "bound": bound(goal)})
        return self.spec(step)
