"""`BrainState`: everything the brain carries between steps, held by the caller, not the module.

    state = BrainState.fresh(batch=8, device="cuda")   # hard reset: no canvases, no memory
    out, state = brain(step_1, state)                  # canvases and memory filled in
    out, state = brain(step_2, state)
    state = state.detach()                             # soft reset: keep values, cut the graph

Keeping the state outside the module means the module's `state_dict` holds parameters only, so a
checkpoint loads into any batch size and device (nothing batch-shaped is ever a buffer).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class BrainState:
    """Canvases and memory of a batch of `batch` brains living on `device`.

    - `canvases`: float `[B, C, 3, S, S]`, the last `C` image predictions, newest first; `None`
      until the first step with an image, which fills every canvas with that image.
    - `memory`: float `[B, M, D]`; `None` until the first step, which starts from zeros.
    - `batch`, `device`: what the first step must match; later steps must match the tensors.

    Build one with `BrainState.fresh`; the brain returns the next one from every step.
    """

    canvases: Tensor | None
    memory: Tensor | None
    batch: int
    device: torch.device

    def __post_init__(self) -> None:
        if not isinstance(self.batch, int) or self.batch < 1:
            raise ValueError(f"BrainState batch must be a positive int; got {self.batch!r}")
        for name in ("canvases", "memory"):
            value = getattr(self, name)
            if value is not None and value.shape[0] != self.batch:
                raise ValueError(
                    f"BrainState.{name} has batch {value.shape[0]} but the state has {self.batch}"
                )

    @staticmethod
    def fresh(batch: int, device: torch.device | str) -> BrainState:
        """An empty state for `batch` samples on `device`: the hard reset."""
        return BrainState(canvases=None, memory=None, batch=batch, device=torch.device(device))

    def detach(self) -> BrainState:
        """The same values cut from the autograd graph: the soft reset between optimizer steps."""
        return BrainState(
            canvases=None if self.canvases is None else self.canvases.detach(),
            memory=None if self.memory is None else self.memory.detach(),
            batch=self.batch,
            device=self.device,
        )
