"""Penguin's TensorBoard: a run opens on what matters.

`penguin.fit` logs through `PenguinTensorBoardLogger` and adds `TensorBoardLayout`:

- **No noise.** Lightning's `hp_metric` card is off (`default_hp_metric=False`) and the `epoch`
  scalar Lightning adds to every logged dict is dropped (a stream of episodes has one endless
  epoch). Everything else is Lightning's `TensorBoardLogger`.
- **Custom scalars** (TensorBoard's "Custom Scalars" tab), written once at fit start on rank 0 to
  every TensorBoard logger: category `tasks` has one chart per task with its `train/<task>/total`
  and `val/<task>/loss` together; category `sampler` has one chart, `shares`, of every task's
  `sampler/<task>/share`. Chart tags are anchored regular expressions of the exact scalar tags.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import TensorBoardLogger


class PenguinTensorBoardLogger(TensorBoardLogger):
    """`TensorBoardLogger` without the `hp_metric` card and the `epoch` scalar."""

    def __init__(self, save_dir: str, name: str = "penguin", **kwargs: Any) -> None:
        kwargs.setdefault("default_hp_metric", False)
        super().__init__(save_dir=save_dir, name=name, **kwargs)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        super().log_metrics({k: v for k, v in metrics.items() if k != "epoch"}, step)


def scalar_layout(tasks: Sequence[str]) -> dict[str, dict[str, list]]:
    """The custom-scalars layout (`SummaryWriter.add_custom_scalars`) for `tasks`."""
    def tag(name: str) -> str:
        return f"^{re.escape(name)}$"

    return {
        "tasks": {task: ["Multiline", [tag(f"train/{task}/total"), tag(f"val/{task}/loss")]] for task in tasks},
        "sampler": {"shares": ["Multiline", [tag(f"sampler/{task}/share") for task in tasks]]},
    }


class TensorBoardLayout(Callback):
    """Writes `scalar_layout` of the module's `task_names` at fit start."""

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        tasks = getattr(pl_module, "task_names", None)
        if not tasks or not trainer.is_global_zero:
            return
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.experiment.add_custom_scalars(scalar_layout(tasks))
