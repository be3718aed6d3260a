"""Recall episodes: independent scenes seen one per step, then a question about the view from k
steps ago — the episode shape the tasks `recall` (draw that view) and `recall_routing` (point the
canvas selection at it) share.

An episode has `STEPS = 4` steps. Step s (1‥4) shows bare scene s; the four scenes are
independent draws (`sample_bare`, one call for the whole episode). Steps 1‥3 reconstruct their own
view (`look_steps`); step 4 asks about the view from `k` steps ago, k uniform in 0‥3, which is the
view of step 4 − k (`RecallViews.recalled`, `recalled_step`).

**Where that view is at step 4.** Every step with an image pushes the brain's prediction onto its
canvases, newest first, dropping the oldest (`penguin.brain.memory.push_canvas`). Steps 1‥3 push
three predictions onto the canvases (`C = 3` in every preset), so at step 4 canvas j holds the
prediction of step 3 − j whatever state the episode started from (a fresh one, or a state carried
from the previous batch: three pushes replace all three canvases; a brain with C > 3 keeps older
ones behind them). In the selection order [input, canvas 0, canvas 1, canvas 2] the view from k
steps ago is therefore at index `k` (`slot_of_ago`): k = 0 the input image, k ≥ 1 canvas k − 1,
which holds the brain's drawing of that view because steps 1‥3 are trained to reconstruct it. For k ≥ 1 the view is not in step 4's
input (an independent scene), so the canvases and the memory are its only route.

**Prompts with `{ago}`.** A recall kind holds templates with an `{ago}` slot ("show the view from
{ago}") and templates without ("show the current view"); `AgoPrompts` tokenises every filled
string once and draws, per sample, one of the strings that ask for that sample's k (k = 0: the
templates without the slot; k ≥ 1: the others filled with `AGO[k − 1]`).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from penguin.episode import StepSpec, View, text_step
from penguin.game.sampling import sample_bare
from penguin.text.prompts import QuestionKind
from penguin.text.tokenizer import PromptTable, Tokenizer

STEPS = 4
AGO = ("one step ago", "two steps ago", "three steps ago")
"""The `{ago}` values: `AGO[k - 1]` asks for the view from k steps ago (the old prompt table's)."""


@dataclass(frozen=True)
class RecallViews:
    """The views of a batch of recall episodes and the k each episode's last step asks for.

    `views` holds every step's plain views in one batch `[STEPS · B]` (checked once), step s
    (1-based) at rows `(s − 1)·B ‥ s·B − 1`; `ago [B]` is k ∈ 0‥STEPS − 1."""

    views: View
    ago: Tensor

    @property
    def batch(self) -> int:
        return self.ago.shape[0]

    def step(self, s: int) -> View:
        """The views step `s` (1‥STEPS) shows."""
        if s not in range(1, STEPS + 1):
            raise ValueError(f"RecallViews.step: s={s!r} must be 1..{STEPS}")
        return self.views[torch.arange((s - 1) * self.batch, s * self.batch)]

    @property
    def recalled_step(self) -> Tensor:
        """`[B]`: the step (1‥STEPS) whose view the last step asks for, `STEPS − k`."""
        return STEPS - self.ago

    def recalled(self) -> View:
        """The view of step `STEPS − k` per sample (new tensors; nothing is changed)."""
        return self.views[(self.recalled_step - 1) * self.batch + torch.arange(self.batch)]


def draw_recall(generator: torch.Generator, batch: int) -> RecallViews:
    """`STEPS` independent bare scenes per episode and k uniform in 0‥STEPS − 1."""
    views = View.of(sample_bare(generator, STEPS * batch))
    ago = torch.randint(0, STEPS, (batch,), generator=generator)
    return RecallViews(views, ago)


def slot_of_ago(ago: Tensor, canvases: int = 3) -> Tensor:
    """`[B]`: the selection index [input, canvas 0 … canvas C−1] that holds the view from k steps
    ago at the last step (the module docstring's invariant): `k` itself, for k ≤ C."""
    if bool((ago < 0).any()) or bool((ago > canvases).any()):
        raise ValueError(f"slot_of_ago: k must be 0..{canvases} (the brain keeps {canvases} canvases); "
                         f"got {sorted(set(ago.tolist()))}")
    return ago.clone()


class AgoPrompts:
    """The prompt rows of one `{ago}` kind, grouped by k; `draw(generator, k)` gives `[B, T]`."""

    def __init__(self, tokenizer: Tokenizer, kind: QuestionKind, max_len: int, paraphrases: bool) -> None:
        if kind.slot != "ago":
            raise ValueError(f"AgoPrompts: kind {kind.name!r} has slot {kind.slot!r}; it needs the slot 'ago'")
        strings, counts = [], []
        for k in range(len(AGO) + 1):
            filled = [t.format(ago=AGO[k - 1]) for t in kind.prompts(paraphrases) if "{ago}" in t] if k else \
                     [t for t in kind.prompts(paraphrases) if "{ago}" not in t]
            if not filled:
                raise ValueError(f"AgoPrompts: kind {kind.name!r} has no prompt asking for k={k}; give it "
                                 "templates with and without {ago}")
            strings.extend(filled)
            counts.append(len(filled))
        self.table = PromptTable(tokenizer, strings, max_len)
        self.counts = torch.tensor(counts)
        self.offsets = torch.cumsum(self.counts, 0) - self.counts

    def draw(self, generator: torch.Generator, ago: Tensor) -> Tensor:
        pick = (torch.rand(len(ago), generator=generator) * self.counts[ago]).long()
        return self.table.ids[self.offsets[ago] + pick]


def look_steps(recall: RecallViews, prompts: list[Tensor], reply: Tensor, pad_id: int,
               question: int) -> list[StepSpec]:
    """Steps 1‥STEPS − 1: each shows its scene and reconstructs it (image target = its own view),
    with `prompts[s − 1]` and question index `question`; their facts say the view shown is the
    step's own (`recalled_step` = s, `k` = 0)."""
    steps = []
    for s in range(1, STEPS):
        view = recall.step(s)
        b = recall.batch
        steps.append(text_step(prompts[s - 1], reply, answer_loss=False, pad_id=pad_id, input=view, target=view,
                               question=torch.full((b,), question, dtype=torch.long),
                               facts={"recalled_step": torch.full((b,), s, dtype=torch.long),
                                      "k": torch.zeros(b, dtype=torch.long)}))
    return steps
