"""Uncertainty weighting: a learned log-variance per loss term.

Kendall, Gal & Cipolla, "Multi-Task Learning Using Uncertainty to Weigh Losses for Scene Geometry
and Semantics", CVPR 2018 (arXiv:1705.07115). Each term is read as the likelihood of a task with
its own homoscedastic noise σ_k²; learning σ_k balances the terms. With s_k = log σ_k² (the
paper's own numerically stable parametrisation) the objective used here is

    objective = Σ_k exp(−s_k) · L_k + s_k

for every term, regression or classification. This is exactly twice the paper's regression form
½·exp(−s)·L + ½·s (LibMTL's *UW* uses that form); the factor 2 is a uniform rescale of the
objective and the paper's classification form differs only by that ½ on the loss. For a fixed
`L_k` the objective is minimised at s_k = log L_k, where the term is worth 1 + log L_k and its
gradient with respect to the model is ∇L_k / L_k: at equilibrium every term contributes its
*relative* change. Consequence: a term's configured weight w scales L_k and is absorbed into s_k
(it shifts s_k by log w), so under this strategy w only switches terms on or off; to favour a
term, use `static`.

Args:
    keys: every ``"task/term"`` key that can appear; one parameter ``log_vars.<task>__<term>`` each.
    init: initial s_k (default 0: weight 1, the static sum at step 0).
    bounds: optional ``(low, high)`` for s_k. A task that reaches near-zero loss drives s_k → −∞
        and its weight exp(−s_k) → ∞; a bound caps the weight at exp(−low). s_k is *projected* onto
        the interval at the start of every forward (projected gradient descent) rather than clamped
        inside the graph, because a clamp has zero gradient outside its range and a parameter that
        overshoots it would stay stuck there. Default None: the paper's unbounded form.

The parameters belong in an optimizer group without weight decay (decay pulls every s_k to 0,
i.e. back to the static sum). A key absent from a step gets no gradient that step; under DDP every
rank trains the same task per step, so the set of used parameters agrees across ranks.

Logs ``"<task>/<term>/weight"`` = exp(−s_k).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from lit_modules.weighting.base import Weighting


class UncertaintyWeighting(Weighting, name="uncertainty"):
    """Σ exp(−s_k) · L_k + s_k with a learned log-variance s_k per key."""

    def __init__(self, keys: Sequence[str], init: float = 0.0,
                 bounds: tuple[float, float] | None = None) -> None:
        super().__init__(keys)
        if not math.isfinite(init):
            raise ValueError(f"init: expected a finite number, got {init!r}")
        if bounds is not None:
            low, high = (float(b) for b in bounds)
            if not low <= init <= high:
                raise ValueError(f"bounds: expected low ≤ init ≤ high, got bounds={tuple(bounds)!r}, init={init!r}")
            bounds = (low, high)
        self.bounds = bounds
        self.log_vars = nn.ParameterDict({self.slot(key): nn.Parameter(torch.tensor(float(init)))
                                          for key in self.keys})

    def combine(self, losses: Mapping[str, Tensor]) -> Tensor:
        if self.bounds is not None:
            with torch.no_grad():
                for s in self.log_vars.values():
                    s.clamp_(*self.bounds)
        terms = []
        for key, loss in losses.items():
            s = self.log_vars[self.slot(key)]
            terms.append(torch.exp(-s) * loss.float() + s)
        return torch.stack(terms).sum()

    def logs(self) -> dict[str, float]:
        keys = [key for key in self.keys if key in self.seen]
        if not keys:
            return {}
        weights = torch.exp(-torch.stack([self.log_vars[self.slot(key)].detach() for key in keys])).tolist()
        return {f"{key}/weight": weight for key, weight in zip(keys, weights)}
