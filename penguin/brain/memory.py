"""What the brain carries from one step to the next: the memory writer and the canvas FIFO.

Memory: `memory_slots` vectors `[B, M, D]`, zeros on a fresh state. Every step the
`MemoryEncoder`'s learned slot queries cross-attend to the step's context (which holds the previous
memory too) and produce new values `new [B, M, D]`; slot k then moves toward its new value at rate
1/(k+1):

    m_k ← m_k + (new_k − m_k) / (k + 1)

so slot 0 holds only the latest step and higher slots are ever slower averages — a spread of time
scales without any bookkeeping of step counts. The write returns a new tensor; the stored memory is
never modified in place, and context tags are added only to the copy placed in the context, so
the memory never accumulates a tag.

Canvases: the brain's last `C` image predictions `[B, C, 3, S, S]`, newest first. `push_canvas`
puts the newest prediction at index 0 and drops the oldest.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from penguin.brain.config import BrainConfig
from penguin.brain.layers import CrossAttentionStack, key_mask


class MemoryEncoder(nn.Module):
    """Writes the next memory `[B, M, D]` from the context and the previous memory."""

    def __init__(self, config: BrainConfig) -> None:
        super().__init__()
        self.slot_queries = nn.Parameter(torch.empty(config.memory_slots, config.width))
        self.transformer = CrossAttentionStack(
            config.memory_encoder_layers, config.width, config.memory_encoder_heads,
            config.mlp_ratio,
        )

    def forward(self, context: Tensor, context_valid: Tensor, memory: Tensor) -> Tensor:
        queries = self.slot_queries.expand(context.shape[0], -1, -1)
        new = self.transformer(queries, context, None, key_mask(context_valid))
        slots = torch.arange(1, memory.shape[1] + 1, device=memory.device, dtype=memory.dtype)
        return memory + (new - memory) / slots[:, None]


def push_canvas(canvases: Tensor, image: Tensor) -> Tensor:
    """Canvases `[B, C, 3, S, S]` with `image [B, 3, S, S]` first and the oldest canvas dropped.

    The image is cast to the canvases' dtype so that a bf16 prediction made under autocast does not
    change the state's dtype from step to step.
    """
    return torch.cat([image.to(canvases.dtype)[:, None], canvases[:, :-1]], dim=1)
