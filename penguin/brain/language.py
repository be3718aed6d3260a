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
from penguin.brain.layers import CrossAttentionStack, SelfAttentionStack, causal_mask, key_mask


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


class TextDecoder(nn.Module):
    """Causal transformer over the reply that reads the context: `[B, Tr, D]` → `[B, Tr, D]`.

    Every reply position also gets the **question** — a projection of the prompt's summary (the
    text encoder's output at the last prompt token) — added to its input. The reply starts with
    the same `<sep>` for every sample, so without it the first position's query into the context
    is identical for every question, and a question whose answer flips with its wording ("is the
    gold left of you?" / "are you left of the gold?") cannot be answered from the first position.
    """

    def __init__(self, config: BrainConfig) -> None:
        super().__init__()
        self.positions = nn.Parameter(torch.empty(config.max_reply_len, config.width))
        self.question = nn.Linear(config.width, config.width)
        self.transformer = CrossAttentionStack(
            config.text_decoder_layers, config.width, config.text_decoder_heads, config.mlp_ratio
        )

    def forward(
        self, embeddings: Tensor, valid: Tensor, context: Tensor, context_valid: Tensor,
        question: Tensor,
    ) -> Tensor:
        """`question [B, D]` is the prompt summary (zeros for a step without a prompt)."""
        x = embeddings + self.positions[: embeddings.shape[1]] + self.question(question)[:, None]
        return self.transformer(x, context, causal_mask(valid), key_mask(context_valid))
