"""`RecallTask` — the shared episode of `recall` and `recall_routing`; not a task itself.

Four steps of independent bare scenes (`penguin.recall`): steps 1‥3 show their scene with a prompt
of the task's first kind and reconstruct it; step 4 shows scene 4 with a prompt of its second kind
asking about the view from k steps ago (the `{ago}` slot), and carries what `last_targets` gives
for it. `facts` on step 4: `recalled_step` (1‥4) and `k`.

A subclass sets `name`, `description`, `question_kinds` (the look kind, then the ago kind) and
`default_weights`, and implements `last_targets(recall)` — the step-4 fields (`target=...` for
`recall`, `slot_target=...` for `recall_routing`).
"""
from __future__ import annotations

from abc import abstractmethod
from typing import Any

import torch

from datamodules.base import TaskDataModule
from penguin.episode import EpisodeSpec, text_step
from penguin.recall import STEPS, AgoPrompts, RecallViews, draw_recall, look_steps


class RecallTask(TaskDataModule):
    kinds_are_fixed = True

    def __init__(self, **common) -> None:
        super().__init__(**common)
        look, ago = self.question_kinds
        self.look_prompts = self.question_set([look.name])
        self.ago_prompts = AgoPrompts(self.tokenizer, ago, self.max_prompt_len, self.paraphrases)

    @abstractmethod
    def last_targets(self, recall: RecallViews) -> dict[str, Any]:
        """What step 4 is scored on, as `text_step` keyword arguments."""

    def sample(self, generator: torch.Generator, batch: int) -> EpisodeSpec:
        recall = draw_recall(generator, batch)
        reply = self.replies.ids[torch.zeros(batch, dtype=torch.long)]
        look = torch.zeros(batch, dtype=torch.long)  # the look kind: kind 0 of question_kinds and of look_prompts
        steps = look_steps(recall, [self.look_prompts.draw(generator, look) for _ in range(STEPS - 1)], reply,
                           self.tokenizer.pad_id, question=0)
        steps.append(text_step(self.ago_prompts.draw(generator, recall.ago), reply, answer_loss=False,
                               pad_id=self.tokenizer.pad_id, input=recall.step(STEPS), question=torch.ones_like(look),
                               facts={"recalled_step": recall.recalled_step, "k": recall.ago},
                               **self.last_targets(recall)))
        return self.spec(*steps)
