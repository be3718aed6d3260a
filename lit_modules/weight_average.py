"""`WeightAverage` — an exponential moving average of the brain's weights, the weights a run is judged by.

`BrainModule` keeps, beside the brain it trains, a copy whose every parameter follows the trained
one after each optimizer step (`model.ema_decay`, 0.99 by default; `null` keeps no average):

    averaged ← averaged + (1 − d) · (trained − averaged),   d = min(ema_decay, (1 + t) / (10 + t))

where `t` is the run's step count (`trainer.global_step` before the step): the average starts as
the weights it starts from and forgets them fast (d is 0.1 at the first step, 0.91 at step 90), and
its memory grows with the run to the full `1 / (1 − ema_decay)` steps, reached at step
`9 / (1 − ema_decay) − 10` (890 for 0.99). That ramp is for weights worth forgetting: a run that
starts from random weights. A warm start that loads the whole brain (`model.init_from` without
`model.init_components`) starts from trained weights, and its average runs at the full decay from
its first step (`ramp=False`): the first steps of a fresh optimizer are a warm start's roughest,
and the average keeps what the loaded brain knew through them (in the forgetting benchmark it
shrank the static mix's worst old-skill dip on every seed, `bench/RESULTS.md` session 17). A warm
start of some components keeps the ramp, since the rest of its brain is random. What the average
is for: single optimizer steps move a small brain's answers a lot (on `tiny64` one validation can
find the arrow 0.2 worse than the ones either side of it, `bench/RESULTS.md`), and the average
keeps what those steps agree on.

What uses the average (everything that judges or reuses the weights; training never does):

- validation — the `val/...` curves, the adaptive sampler's feedback and the best checkpoints
  (`callbacks/best_checkpoint.py`) all see the averaged brain;
- `python -m penguin.evaluate` and its PNG grids (`BrainModule.run` outside training; its
  `--weights trained` scores the trained brain instead);
- a warm start (`model.init_from`) from a checkpoint that holds an average takes the average
  (`lit_modules/warm_start.py`).

Checkpoints hold both, the trained brain under `brain.` and the average under `averaged.brain.`,
so a resume (`--ckpt_path`) continues both exactly; a checkpoint written without an average and
resumed with one starts the average from its trained weights. The average costs one more copy of
the weights in memory and in each checkpoint, and one fused `lerp` over them per step.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from penguin.brain import Brain

AVERAGED = "averaged.brain."  # the average's keys in a checkpoint's state_dict
WARMUP_OFFSET = 10  # d_t = (1 + t) / (WARMUP_OFFSET + t) while that is below ema_decay


def check_decay(decay: float | None) -> None:
    """A one-line ValueError unless `decay` is None (no average) or a number in (0, 1)."""
    if decay is not None and not (isinstance(decay, (int, float)) and not isinstance(decay, bool)
                                  and 0 < decay < 1):
        raise ValueError(f"model.ema_decay: expected a number in (0, 1) such as 0.99 (or null for no average), "
                         f"got {decay!r}")


def holds_average(state_dict) -> bool:
    """Whether a checkpoint's `state_dict` holds an average of the weights (keys under `AVERAGED`)."""
    return any(key.startswith(AVERAGED) for key in state_dict)


def step_decay(decay: float, step: int, ramp: bool = True) -> float:
    """The decay of the update after `step` earlier steps: `min(decay, (1 + step) / (10 + step))`,
    or `decay` from the first step without the ramp."""
    return min(decay, (1 + step) / (WARMUP_OFFSET + step)) if ramp else decay


class WeightAverage(nn.Module):
    """The averaged copy (`self.brain`) of a trained `Brain`; see the module docstring."""

    def __init__(self, brain: Brain, decay: float, ramp: bool = True) -> None:
        super().__init__()
        check_decay(decay)
        self.decay = float(decay)
        self.ramp = ramp  # False: the weights it starts from are trained ones (a whole-brain warm start)
        self.brain = copy.deepcopy(brain).requires_grad_(False)
        # One vocabulary for both: the kind head's classes mean the same kinds in the average.
        self.brain.kind_vocabulary = brain.kind_vocabulary

    @torch.no_grad()
    def update(self, brain: Brain, step: int) -> None:
        """Move the average towards `brain`'s weights after optimizer step number `step` (from 0)."""
        trained = [p.detach() for p in brain.parameters()]
        torch._foreach_lerp_(list(self.brain.parameters()), trained, 1.0 - step_decay(self.decay, step, self.ramp))

    @torch.no_grad()
    def reset(self, brain: Brain) -> None:
        """Make the average equal to `brain`'s weights (a warm start's first weights)."""
        torch._foreach_copy_(list(self.brain.parameters()), [p.detach() for p in brain.parameters()])
