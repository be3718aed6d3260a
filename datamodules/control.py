"""`control` — reconstruct the control image set while reading a control sentence.

Skill: see and redraw anything the game can show — the reconstruction diet. Input:
a control-set view (`penguin.game.control`: full scenes with interior walls, before or after a
jitter, and zooms of factor 2–21 on gold, agent, wall corners and edges, random points). Prompt:
a control sentence from the procedural corpus (or `sentences_file`), trained as language
modelling. Target: the input image itself.

Loss terms: image (MSE) + LM on the prompt (small). Label rates: none.
"""
from __future__ import annotations

import torch

from datamodules.base import TaskDataModule
from datamodules.registry import register
from penguin.episode import EpisodeSpec, TermWeights, View, text_step
from penguin.game.control import sample_control
from penguin.text.corpus import SentencePool


@register
class Control(TaskDataModule):
    name = "control"
    description = "reconstruct control-set views (full scenes, jitter, zooms) while modelling a control sentence"
    default_weights = TermWeights(image=1.0, answer=0.0, lm=0.1, value=0.0, slot=0.0, kind=0.0)

    def __init__(self, *, sentences_file: str | None = None, pool_size: int = 4096, corpus_seed: int = 1,
                 truncate: bool = False, **common) -> None:
        super().__init__(**common)
        self.pool = SentencePool.of(self.tokenizer, self.max_prompt_len, sentences_file=sentences_file,
                                    pool_size=pool_size, seed=corpus_seed, truncate=truncate)

    def sample(self, generator: torch.Generator, batch: int) -> EpisodeSpec:
        views = sample_control(generator, batch)
        view = View.of(views.scene, zoom_center=views.zoom_center, zoom_factor=views.zoom_factor)
        prompt = self.pool.ids[self.pool.draw(generator, batch)]
        reply = self.replies.ids[torch.zeros(batch, dtype=torch.long)]
        return self.spec(text_step(prompt, reply, answer_loss=False, pad_id=self.tokenizer.pad_id,
                                   input=view, target=view))
