"""`LastCheckpoint` — `last.ckpt` at the end of every validation *and* when training stops.

Lightning's `ModelCheckpoint(save_last=True)` writes `last.ckpt` only when it saves a checkpoint,
which `penguin.fit` has it do at the end of each validation (after the task sampler's decision, so
a resume continues with exactly the sampler state the run had). Its own train-end save fires only
if nothing was ever saved. So a run whose `max_steps` is not a multiple of `val_check_interval`,
or one stopped by `max_time`, lost every step after its last validation: `--ckpt_path last`
resumed from there.

This subclass also writes `last.ckpt` when training ends, whenever the newest checkpoint is older
than the trainer's step. The file holds everything a resume needs at that step — weights,
optimizer, schedule, the data stream's position and the task sampler's state — so resuming from
it continues exactly, as `tests/test_fit.py::test_resume_continues_exactly` checks on a run that
stopped between two validations.

    LastCheckpoint(dirpath="runs/NAME/checkpoints", filename="step{step}",
                   auto_insert_metric_name=False, save_last=True, save_top_k=1)
"""
from __future__ import annotations

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint


class LastCheckpoint(ModelCheckpoint):
    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Lightning's own skip rule: not under fast_dev_run or outside fit, and not when this
        # step is already saved (the run ended on a validation, or took no step at all).
        if self.save_last and not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
            self._last_global_step_saved = trainer.global_step
