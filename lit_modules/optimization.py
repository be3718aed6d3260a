"""The optimizer and learning-rate schedule of `BrainModule`.

`adamw_with_schedule(brain, extra, ...)` returns Lightning's `configure_optimizers` dictionary:

- **AdamW** (fused on CUDA when every parameter is there), `betas` as given.
- **Parameter groups.** `lr_multipliers` maps a brain component — a direct child of the brain,
  e.g. `text_decoder` — to a multiplier of `lr` (e.g. a slower text decoder); a name that is not a component is a `ValueError`. Weight decay applies to matrices only:
  biases, norms, tags, tokens and embeddings get none. `extra` parameters (the weighting
  strategy's learnable ones) train at `lr` without decay. Frozen parameters are left out.
- **Schedule**, stepped every optimizer step: linear warmup over `warmup_steps` (step 0 at
  `lr / warmup_steps`), then a cosine from `lr` down to `min_lr_ratio · lr` at `total_steps`, flat
  after. The multiplier is a plain function of the step, so a checkpoint stores no schedule state
  beyond the step: a resumed run follows the configured schedule.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn


def param_groups(brain: nn.Module, extra: Iterable[nn.Parameter], *, lr: float, weight_decay: float,
                 lr_multipliers: dict[str, float] | None = None) -> list[dict[str, Any]]:
    """AdamW groups, one per (learning-rate multiplier, decay or not), in a fixed order."""
    multipliers = dict(lr_multipliers or {})
    components = {name for name, _ in brain.named_children()}
    unknown = sorted(set(multipliers) - components)
    if unknown:
        raise ValueError(f"model.lr_multipliers: {unknown} are not brain components; valid: {sorted(components)}")
    groups: dict[tuple[float, bool], list[nn.Parameter]] = {}
    for name, p in brain.named_parameters():
        if not p.requires_grad:
            continue
        groups.setdefault((multipliers.get(name.split(".")[0], 1.0), _decays(name, p)), []).append(p)
    extra = [p for p in extra if p.requires_grad]
    if extra:
        groups.setdefault((1.0, False), []).extend(extra)
    return [{"params": ps, "lr": lr * mult, "weight_decay": weight_decay if decay else 0.0}
            for (mult, decay), ps in sorted(groups.items())]


def _decays(name: str, p: nn.Parameter) -> bool:
    return p.ndim >= 2 and "embedding" not in name and "tag" not in name and "token" not in name.split(".")[-1]


def warmup_cosine(warmup_steps: int, total_steps: int, min_lr_ratio: float) -> Callable[[int], float]:
    """The learning-rate multiplier of each step (for `LambdaLR`)."""
    def schedule(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return schedule


def adamw_with_schedule(brain: nn.Module, extra: Iterable[nn.Parameter], *, lr: float, weight_decay: float,
                        betas: tuple[float, float], lr_multipliers: dict[str, float] | None, warmup_steps: int,
                        total_steps: int, min_lr_ratio: float) -> dict[str, Any]:
    """`configure_optimizers`' answer: AdamW over `param_groups` and the per-step schedule."""
    groups = param_groups(brain, extra, lr=lr, weight_decay=weight_decay, lr_multipliers=lr_multipliers)
    fused = torch.cuda.is_available() and all(p.is_cuda for g in groups for p in g["params"])
    optimizer = torch.optim.AdamW(groups, lr=lr, betas=tuple(betas), fused=fused or None)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(warmup_steps, total_steps, min_lr_ratio))
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
