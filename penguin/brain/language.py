"""The text pathway: `TextEncoder` (the prompt) and `TextDecoder` (the reply).

Token contract with the tokenizer (`penguin/text`):
- `prompt_ids [B, Tp]` = `<s> prompt`, right-padded with `PAD_ID` (0);
- `reply_ids [B, Tr]` = `<sep> answer </s>`, right-padded with 0.

Splitting prompt and reply keeps the answer out of the context the brain reads: only the decoder
sees reply tokens, and only causally. Teacher forcing: the decoder's output at position t predicts
`reply_ids[t + 1]` (the loss side shifts); likewise the encoder's output at t predicts
`prompt_ids[t + 1]`, which gives the small language-modelling loss on prompts.

Both modules take token embeddings from the brain, whose single `token_embedding` is shared by the
encoder, the decoder and the (tied) vocabulary head; each module owns its learned positions.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from penguin.brain.config import BrainConfig
from penguin.brain.layers import (
    CrossAttentionStack,
    GatedReader,
    SelfAttentionStack,
    causal_mask,
    key_mask,
)


class TextEncoder(nn.Module):
    """Causal transformer over the prompt: embeddings `[B, Tp, D]` → encoding `[B, Tp, D]`."""

    def __init__(self, config: BrainConfig) -> None:
        super().__init__()
        self.positions = nn.Parameter(torch.empty(config.max_prompt_len, config.width))
        self.transformer = SelfAttentionStack(
            config.text_encoder_layers, config.width, config.text_encoder_heads, config.mlp_ratio
        )

    def forward(self, embeddings: Tensor, valid: Tensor) -> Tensor:
        x = embeddings + self.positions[: embeddings.shape[1]]
        return self.transformer(x, causal_mask(valid))


REPLY_POSITION_STD = 1.0
"""Initial scale of the text decoder's learned positions (see `TextDecoder`)."""


class TextDecoder(nn.Module):
    """Causal transformer over the reply that reads the context: `[B, Tr, D]` → `[B, Tr, D]`.

    Every reply position also gets the **reading** of two summaries: the **question** (the text
    encoder's output at the last prompt token) and the **glance** (the per-channel maximum over the
    image tokens), read together by a `GatedReader` and added to the position's input.

    - The question: every reply starts with the same `<sep>`, so without it the first position's
      query into the context is the same for every question, and a question whose answer flips
      with its wording ("is the gold left of you?" / "are you left of the gold?") cannot be
      answered from the first position.
    - The glance: a maximum finds a 2-px coin among 64 tokens at once, where attention has to learn
      where to look before its gradient says anything. Measured on `gold_left_right` (encoder plus
      a small head, bench/RESULTS.md): max-pooled, 0.90 by step 900; pooled by attention with
      learned queries, chance through 1,300.
    - The reader is gated (products of two projections) so question × image terms exist from the
      start; see `GatedReader`.

    The reply's learned positions start at unit scale (`REPLY_POSITION_STD`), not the brain's 0.02:
    the reading is added to every position, and when it dwarfed the positions the decoder could not
    tell `<sep>` (→ the answer) from the answer (→ `</s>`); to predict `</s>` with certainty it
    grew a constant in the residual stream twenty times the reading's size, and after the final
    LayerNorm the reading, and with it the image, no longer moved the answer.
    """

    def __init__(self, config: BrainConfig) -> None:
        super().__init__()
        self.positions = nn.Parameter(torch.empty(config.max_reply_len, config.width))
        self.reader = GatedReader(2 * config.width, 2 * config.width, config.width)
        self.transformer = CrossAttentionStack(
            config.text_decoder_layers, config.width, config.text_decoder_heads, config.mlp_ratio
        )

    def forward(
        self, embeddings: Tensor, valid: Tensor, context: Tensor, context_valid: Tensor,
        question: Tensor, glance: Tensor,
    ) -> Tensor:
        """`question [B, D]` is the prompt summary and `glance [B, D]` the image summary (each zeros
        when the step has no prompt or no image)."""
        read = self.reader(torch.cat([question, glance], dim=-1))
        x = embeddings + self.positions[: embeddings.shape[1]] + read[:, None]
        return self.transformer(x, context, causal_mask(valid), key_mask(context_valid))
