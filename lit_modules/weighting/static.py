"""Static weighting: the fixed weighted sum every multi-task paper starts from.

    objective = Σ_k c_task(k) · L_k

`L_k` already carries the task's configured term weight (the LightningModule applied it), so with
the default scales this is LibMTL's *EW* (equal weighting) of the weighted terms. `task_scales`
multiplies every term of a task on top — a whole-task knob that leaves the term balance inside
the task alone. Nothing is learned and nothing is tracked: the gradient of the objective with
respect to `L_k` is exactly `c_task(k)`.

Args:
    keys: every ``"task/term"`` key that can appear.
    task_scales: ``{task: scale}``, scale ≥ 0 and finite; tasks left out get 1. A task that has
        no key is a `ValueError` (a typo would otherwise silently do nothing).

Logs ``"<task>/<term>/weight"`` = the scale, constant, so that runs compare with the adaptive
strategies under the same tag.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from lit_modules.weighting.base import Weighting


class StaticWeighting(Weighting, name="static"):
    """Σ c_task(k) · L_k with fixed per-task scales (default 1)."""

    def __init__(self, keys: Sequence[str], task_scales: Mapping[str, float] | None = None) -> None:
        super().__init__(keys)
        task_scales = dict(task_scales or {})
        tasks = {self.task_of(key) for key in self.keys}
        unknown = sorted(set(task_scales) - tasks)
        if unknown:
            raise ValueError(f"task_scales names tasks without loss keys: {', '.join(unknown)}")
        for task, scale in task_scales.items():
            if not isinstance(scale, (int, float)) or not math.isfinite(scale) or scale < 0:
                raise ValueError(f"task_scales[{task!r}]: expected a finite number ≥ 0, got {scale!r}")
        self.scales = {key: float(task_scales.get(self.task_of(key), 1.0)) for key in self.keys}

    def combine(self, losses: Mapping[str, Tensor]) -> Tensor:
        return torch.stack([self.scales[key] * loss.float() for key, loss in losses.items()]).sum()

    def logs(self) -> dict[str, float]:
        return {f"{key}/weight": self.scales[key] for key in self.keys if key in self.seen}
