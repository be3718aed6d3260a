"""Transformer building blocks shared by every part of the brain.

- `Attention`: multi-head attention through `F.scaled_dot_product_attention` (fused kernels on CPU
  and CUDA, bf16-safe). Masks are boolean, `True` = the key takes part, shaped to broadcast against
  `[B, heads, queries, keys]`.
- `SelfAttentionStack`: pre-norm blocks of self-attention + MLP, then a final LayerNorm.
- `GatedReader`: a bilinear GLU that reads a few summary vectors together (the text decoder's
  question and glance).
- `CrossAttentionStack`: pre-norm blocks of self-attention + cross-attention to a context + MLP,
  then a final LayerNorm.
- `sincos_2d`: fixed 2D sin-cos positions for a token grid (MAE style).
- `causal_mask`, `key_mask`: the masks the text and context paths need.

A query whose keys are all masked would make SDPA return NaN. The masks here never allow that:
`causal_mask` always lets a token see itself, and every context holds non-text tokens (image,
memory, value) that `key_mask` never hides.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Attention(nn.Module):
    """Multi-head attention of `x [B, L, D]` over `source [B, S, D]` (pass `source=x` for self)."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(width, width)
        self.key_value = nn.Linear(width, 2 * width)
        self.out = nn.Linear(width, width)

    def forward(self, x: Tensor, source: Tensor, mask: Tensor | None = None) -> Tensor:
        batch, length, width = x.shape
        head_width = width // self.heads
        q = self.query(x).view(batch, length, self.heads, head_width).transpose(1, 2)
        k, v = (
            self.key_value(source)
            .view(batch, source.shape[1], 2, self.heads, head_width)
            .permute(2, 0, 3, 1, 4)
        )
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.out(y.transpose(1, 2).reshape(batch, length, width))


class MLP(nn.Sequential):
    """Linear → GELU → Linear with a `ratio`-times wider hidden layer."""

    def __init__(self, width: int, ratio: int) -> None:
        super().__init__(nn.Linear(width, ratio * width), nn.GELU(), nn.Linear(ratio * width, width))


class GatedReader(nn.Module):
    """`x [.., inputs] → [.., width]` through products of two projections: `out(left(x) ⊙ right(x))`.

    A bilinear GLU (Shazeer 2020, "GLU Variants Improve Transformer", without the activation).
    Every hidden unit is a product of two linear functions of the input, so when the input is a
    question and an image summary side by side, question × image terms exist from the first step
    and their gradients do not cancel. That is what a question whose answer flips with its wording
    needs ("is the gold left of you?" / "are you left of the gold?": for the same scene the answers
    are opposite, so any term linear in the image averages to zero over the two questions); "is the
    gold near you?" is likewise even in the agent–gold offset (squares of the image's features).
    Measured through the text decoder on both left/right questions (bench/RESULTS.md):
    a GELU MLP in the same place plateaued at 0.70, the gated reader reached 0.94 by step 1,200.

    `left` and `right` keep PyTorch's fan-in initialisation (see `reset_parameters`): a product of
    two projections at the brain's std 0.02 starts about 100× smaller than its inputs and its
    gradient is as small, so the product terms would not start to learn.
    """

    def __init__(self, inputs: int, hidden: int, width: int) -> None:
        super().__init__()
        self.left = nn.Linear(inputs, hidden)
        self.right = nn.Linear(inputs, hidden)
        self.out = nn.Linear(hidden, width)

    def reset_parameters(self) -> None:
        """Fan-in (PyTorch default) initialisation of `left` and `right`; `out` is left as is."""
        self.left.reset_parameters()
        self.right.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.left(x) * self.right(x))


class SelfBlock(nn.Module):
    """Pre-norm self-attention + MLP."""

    def __init__(self, width: int, heads: int, mlp_ratio: int) -> None:
        super().__init__()
        self.attention_norm = nn.LayerNorm(width)
        self.attention = Attention(width, heads)
        self.mlp_norm = nn.LayerNorm(width)
        self.mlp = MLP(width, mlp_ratio)

    def forward(self, x: Tensor, mask: Tensor | None) -> Tensor:
        h = self.attention_norm(x)
        x = x + self.attention(h, h, mask)
        return x + self.mlp(self.mlp_norm(x))


class CrossBlock(nn.Module):
    """Pre-norm self-attention + cross-attention to a context + MLP."""

    def __init__(self, width: int, heads: int, mlp_ratio: int) -> None:
        super().__init__()
        self.self_norm = nn.LayerNorm(width)
        self.self_attention = Attention(width, heads)
        self.cross_norm = nn.LayerNorm(width)
        self.cross_attention = Attention(width, heads)
        self.mlp_norm = nn.LayerNorm(width)
        self.mlp = MLP(width, mlp_ratio)

    def forward(
        self, x: Tensor, context: Tensor, self_mask: Tensor | None, context_mask: Tensor | None
    ) -> Tensor:
        h = self.self_norm(x)
        x = x + self.self_attention(h, h, self_mask)
        x = x + self.cross_attention(self.cross_norm(x), context, context_mask)
        return x + self.mlp(self.mlp_norm(x))


class SelfAttentionStack(nn.Module):
    """`layers` `SelfBlock`s and a final LayerNorm: `[B, L, D]` → `[B, L, D]`."""

    def __init__(self, layers: int, width: int, heads: int, mlp_ratio: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(SelfBlock(width, heads, mlp_ratio) for _ in range(layers))
        self.norm = nn.LayerNorm(width)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        for block in self.blocks:
            x = block(x, mask)
        return self.norm(x)


class CrossAttentionStack(nn.Module):
    """`layers` `CrossBlock`s reading `context` and a final LayerNorm: `[B, L, D]` → `[B, L, D]`."""

    def __init__(self, layers: int, width: int, heads: int, mlp_ratio: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(CrossBlock(width, heads, mlp_ratio) for _ in range(layers))
        self.norm = nn.LayerNorm(width)

    def forward(
        self,
        x: Tensor,
        context: Tensor,
        self_mask: Tensor | None = None,
        context_mask: Tensor | None = None,
    ) -> Tensor:
        for block in self.blocks:
            x = block(x, context, self_mask, context_mask)
        return self.norm(x)


def sincos_2d(grid: int, width: int, *, device: torch.device, dtype: torch.dtype) -> Tensor:
    """Fixed positions `[grid * grid, width]` for a row-major token grid.

    The first half of the width encodes the row (y), the second half the column (x); each half is
    sin and cos at `width / 4` geometric frequencies. Computed on the fly (cheap) rather than kept
    as a buffer, so a brain built on the `meta` device and materialised later never holds stale
    positions.
    """
    quarter = width // 4
    frequencies = 1.0 / 10000 ** (torch.arange(quarter, device=device, dtype=torch.float32) / quarter)
    coordinates = torch.arange(grid, device=device, dtype=torch.float32)
    angles = coordinates[:, None] * frequencies[None, :]  # [grid, quarter]
    y = torch.cat([angles.sin(), angles.cos()], dim=1)[:, None, :].expand(grid, grid, 2 * quarter)
    x = torch.cat([angles.sin(), angles.cos()], dim=1)[None, :, :].expand(grid, grid, 2 * quarter)
    return torch.cat([y, x], dim=2).reshape(grid * grid, width).to(dtype)


def causal_mask(valid: Tensor) -> Tensor:
    """Self-attention mask `[B, 1, T, T]` for right-padded text with key validity `valid [B, T]`.

    Token t sees valid tokens at positions ≤ t, and always itself, so a pad row never ends up with
    no key at all (its output is ignored by the losses anyway).
    """
    length = valid.shape[1]
    causal = torch.ones(length, length, dtype=torch.bool, device=valid.device).tril()
    itself = torch.eye(length, dtype=torch.bool, device=valid.device)
    return (causal & (valid[:, None, :] | itself))[:, None]


def key_mask(valid: Tensor) -> Tensor:
    """Cross-attention mask `[B, 1, 1, S]` from key validity `valid [B, S]`."""
    return valid[:, None, None, :]
