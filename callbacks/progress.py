"""`TaskMixProgressBar` — the progress bar shows which task is training and the current task mix.

The bar's postfix gains `task` (the task of the last training step) and `mix` (each task's share
of the schedule in percent, from the data's task sampler), next to the loss. Everything else is
Lightning's `TQDMProgressBar`.
"""
from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.callbacks import TQDMProgressBar


class TaskMixProgressBar(TQDMProgressBar):
    def __init__(self, refresh_rate: int = 1, leave: bool = False) -> None:
        super().__init__(refresh_rate=refresh_rate, leave=leave)
        self._task = ""

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        self._task = getattr(batch, "task", "")
        super().on_train_batch_start(trainer, pl_module, batch, batch_idx)

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        sampler = getattr(getattr(trainer, "datamodule", None), "sampler", None)
        if self._task:
            metrics["task"] = self._task
        if sampler is not None:
            metrics["mix"] = " ".join(f"{name}:{100 * share:.0f}%" for name, share in sampler.shares().items())
        return metrics
