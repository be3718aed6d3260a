"""Loss-ratio weighting: every term divided by a running mean of itself.

    objective = Σ_k L_k / m_k,    m_k ← μ · m_k + (1 − μ) · L_k   (detached, after use)

so each term contributes ≈ 1 whatever its units — an image MSE of 0.003 and an answer CE of 2.5
pull equally — and the gradient with respect to L_k is exactly 1 / m_k.

What this is, precisely: the *loss ratio* L_t / μ_{t−1} (current loss over the running mean of its
past values) that CoV-Weighting builds on (Groenendijk, Karaoglu, Gevers & Mensink, "Multi-Loss
Weighting with Coefficient of Variations", WACV 2021), used here with equal weights — without
CoV's coefficient-of-variation re-weighting — and with an exponential rather than a cumulative mean.
It is also GradNorm's inverse training rate L(t)/L(0) (Chen et al., ICML 2018) with the frozen
L(0) replaced by a moving average and used directly as the objective, without GradNorm's gradient
balancing. It is *not* DWA (Liu, Johns & Davison, CVPR 2019), which softmaxes ratios of
consecutive epoch losses into weights.

Details:
- m_k starts from the first value seen for key k (no zero start, hence no bias correction), and
  the ratio divides by the mean *before* this step's update, so a constant loss gives exactly 1.
- m_k is updated only in training mode and only from finite values: validation and a non-finite
  step (which the trainer skips) leave it alone. In eval mode a never-seen key divides by its own
  value (ratio 1) without storing it.
- Under DDP the ranks see different samples, so their m_k would drift apart slightly; DDP's
  default `broadcast_buffers` copies rank 0's buffers to every rank at each forward, which keeps
  them — and the checkpoint — consistent.
- A term's configured weight w scales L_k and m_k alike and cancels: under this strategy w only
  switches terms on or off; to favour a term, use `static`.
- Every step's objective is ≈ the number of terms its task has, so a task with three terms pulls
  three times as hard as a task with one; the task sampler, not the weighting, sets task balance.

Args:
    keys: every ``"task/term"`` key that can appear; one buffer ``running_mean.<task>__<term>`` each.
    momentum: μ in [0, 1); the mean spans ≈ 1/(1 − μ) steps *of that key* (default 0.99).
    eps: floor of m_k in the division, so a term that reaches exactly 0 does not divide by 0
        (default 1e-8; raise it to cap the weight of nearly solved terms at 1/eps).

Logs ``"<task>/<term>/weight"`` = 1 / max(m_k, eps) for keys seen so far.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from lit_modules.weighting.base import Weighting


class LossRatioWeighting(Weighting, name="loss_ratio"):
    """Σ L_k / m_k with m_k a detached exponential running mean of L_k."""

    def __init__(self, keys: Sequence[str], momentum: float = 0.99, eps: float = 1e-8) -> None:
        super().__init__(keys)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum: expected a number in [0, 1), got {momentum!r}")
        if not eps > 0.0:
            raise ValueError(f"eps: expected a number > 0, got {eps!r}")
        self.momentum = float(momentum)
        self.eps = float(eps)
        # One scalar buffer per key on a plain container module: torch has no BufferDict, and this
        # gives checkpoint names like `running_mean.arrow__image`. NaN marks "not seen yet".
        self.running_mean = nn.Module()
        for key in self.keys:
            self.running_mean.register_buffer(self.slot(key), torch.tensor(float("nan")))

    def combine(self, losses: Mapping[str, Tensor]) -> Tensor:
        terms = []
        for key, loss in losses.items():
            mean = getattr(self.running_mean, self.slot(key))
            value = loss.detach().float()
            # Tensor ops throughout (no .item()): no host sync per step on the GPU.
            seen = ~torch.isnan(mean)
            denominator = torch.where(seen, mean, value).clamp(min=self.eps)
            terms.append(loss.float() / denominator)
            if self.training:
                updated = torch.where(seen, self.momentum * mean + (1.0 - self.momentum) * value, value)
                mean.copy_(torch.where(torch.isfinite(value), updated, mean))
        return torch.stack(terms).sum()

    def logs(self) -> dict[str, float]:
        means = torch.stack([getattr(self.running_mean, self.slot(key)) for key in self.keys]).tolist()
        return {f"{key}/weight": 1.0 / max(mean, self.eps) for key, mean in zip(self.keys, means) if mean == mean}
