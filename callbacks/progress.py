"""`TaskMixProgressBar` — the progress bar shows which task is training and which tasks the mix favours.

The bar's postfix gains, next to the loss:

- `task`: the task of the last training step;
- `top`: at most `TOP` tasks the data's task sampler boosts most — the highest shares above the
  uniform share 1/N, in percent (`top=side_qa:21% arrow:12% near_gold_qa:9%`); absent while no
  task is above uniform.

The postfix is capped to one terminal line (`shutil.get_terminal_size`): `top` loses its last
entries until `FRAME` characters (tqdm's own text with a one-character bar, and the loss) plus the
postfix fit the width. The full mix, every task's share, is in TensorBoard (`sampler/<task>/share`).
Everything else is Lightning's `TQDMProgressBar`; `v_num` is dropped.
"""
from __future__ import annotations

import shutil
from collections.abc import Mapping
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import TQDMProgressBar

TOP = 3
FRAME = 75


def mix_postfix(task: str, shares: Mapping[str, float], width: int) -> dict[str, str]:
    """`{"task": ..., "top": ...}` for a bar `width` characters wide (either may be absent)."""
    postfix = {"task": task} if task else {}
    uniform = 1 / len(shares) if shares else 0.0
    boosted = sorted((name for name, share in shares.items() if share > uniform * (1 + 1e-6)),
                     key=lambda name: -shares[name])[:TOP]
    entries = [f"{name}:{100 * shares[name]:.0f}%" for name in boosted]
    budget = width - FRAME - sum(len(f", {k}={v}") for k, v in postfix.items())
    while entries and len(", top=" + " ".join(entries)) > budget:
        entries.pop()
    if entries:
        postfix["top"] = " ".join(entries)
    return postfix


class TaskMixProgressBar(TQDMProgressBar):
    def __init__(self, refresh_rate: int = 1, leave: bool = False) -> None:
        super().__init__(refresh_rate=refresh_rate, leave=leave)
        self._task = ""

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any,
                             batch_idx: int) -> None:
        self._task = getattr(batch, "task", "")
        super().on_train_batch_start(trainer, pl_module, batch, batch_idx)

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        sampler = getattr(getattr(trainer, "datamodule", None), "sampler", None)
        shares = sampler.shares() if sampler is not None else {}
        metrics.update(mix_postfix(self._task, shares, shutil.get_terminal_size().columns))
        return metrics
