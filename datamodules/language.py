"""`language` — language modelling of short English sentences about the game.

Skill: the language itself. Each sample is one sentence, fed as the prompt `<s> sentence`; the
loss is next-token cross-entropy over it (the LM term). There is no input image: the step
carries text only, and the brain reads its (fresh) memory and no image.

Sentences: the procedural corpus of `penguin.text.corpus` (a pool of `pool_size` sentences drawn
once with `corpus_seed`), or a user's text file with one sentence a line (`sentences_file`).
A sentence longer than `max_prompt_len` tokens is an error unless `truncate=True`.

Label rates: none (no answer).

Metric: `val/language/perplexity`, exp of the mean next-token cross-entropy over the LM term's
tokens. Its reference is `baselines()["unigram_perplexity"]`: the perplexity of the unigram model
of the same pool (each token's frequency among the pool's LM targets, the tokens the LM term
scores), on that pool — the level a brain reaches by ignoring the context. Validation draws its
sentences uniformly from the pool, so the two are on the same distribution.
"""
from __future__ import annotations

import torch

from datamodules.base import TaskDataModule
from datamodules.registry import register
from penguin.episode import EpisodeSpec, TermWeights, text_step
from penguin.text.corpus import SentencePool


@register
class Language(TaskDataModule):
    name = "language"
    description = "language modelling of procedural sentences about game scenes (or your own text file)"
    default_weights = TermWeights(image=0.0, answer=0.0, lm=1.0, value=0.0, slot=0.0, kind=0.0)

    def __init__(self, *, sentences_file: str | None = None, pool_size: int = 4096, corpus_seed: int = 0,
                 truncate: bool = False, **common) -> None:
        super().__init__(**common)
        self.pool = SentencePool.of(self.tokenizer, self.max_prompt_len, sentences_file=sentences_file,
                                    pool_size=pool_size, seed=corpus_seed, truncate=truncate)

    def sample(self, generator: torch.Generator, batch: int) -> EpisodeSpec:
        prompt = self.pool.ids[self.pool.draw(generator, batch)]
        reply = self.replies.ids[torch.zeros(batch, dtype=torch.long)]
        return self.spec(text_step(prompt, reply, answer_loss=False, pad_id=self.tokenizer.pad_id))

    def baselines(self) -> dict[str, float]:
        """`{"unigram_perplexity": …}`: see the module docstring."""
        replies = self.replies.ids[torch.zeros(len(self.pool), dtype=torch.long)]
        step = text_step(self.pool.ids, replies, answer_loss=False, pad_id=self.tokenizer.pad_id)
        counts = torch.bincount(step.prompt_ids[:, 1:][step.lm_mask]).double()
        p = counts[counts > 0] / counts.sum()
        return {**super().baselines(), "unigram_perplexity": float(torch.exp(-(p * p.log()).sum()))}
