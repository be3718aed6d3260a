"""`SamplerFeedback` — after each validation, the validation losses steer the task sampler.

At the end of every validation during `fit` (not `trainer.validate`, and not a partial sanity
check; a warm-started `penguin.fit` run validates its starting weights completely as its sanity
check, and that validation counts: it gives the sampler the level the run starts from) it
hands the module's `last_val_losses` and `last_val_errors` (`{task: val loss}`, `{task: val
error}`, reduced across ranks, see `BrainModule`) to the data's `update_sampler`
(`datamodules.mixture.TaskMixture`), whose sampler watches the one its `signal` names, logs one line
per sampler event ("task sampler: arrow regressed at step 1200; shares now {...}") and writes to
the loggers, at the trainer's step:

- `sampler/<task>/share`: every task's share of the training steps from now on;
- `sampler/<task>/<what>`: the sampler's own state (`TaskSampler.logs()`: boost, averages, …).

**Order.** It runs in `on_validation_end`, after the module has computed the metrics (in
`on_validation_epoch_end`) and before any checkpoint callback saves (Lightning runs every
`Checkpoint` callback after all others, `_CallbackConnector._reorder_callbacks`), so a checkpoint
written at the end of a validation holds the sampler state after its decision and a resumed run
continues exactly. Every rank updates its sampler with the same reduced losses, so every rank keeps
the same schedule; the loggers write on rank 0.

A data module without `update_sampler`, or a module without `last_val_losses`, leaves it idle.
`penguin.fit` adds it unless the config brings its own.
"""
from __future__ import annotations

import logging

import lightning as L
from lightning.pytorch.callbacks import Callback

log = logging.getLogger(__name__)


class SamplerFeedback(Callback):
    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        data = getattr(trainer, "datamodule", None)
        losses = getattr(pl_module, "last_val_losses", None)
        partial_sanity_check = trainer.sanity_checking and trainer.num_sanity_val_steps != float("inf")
        if not hasattr(data, "update_sampler") or losses is None or partial_sanity_check \
                or trainer.state.fn != "fit":
            return
        for task, event in data.update_sampler(losses, getattr(pl_module, "last_val_errors", {})).items():
            log.info("task sampler: %s %s at step %d; shares now %s", task, event, trainer.global_step,
                     {t: round(v, 3) for t, v in data.sampler.shares().items()})
        metrics = {f"sampler/{task}/share": share for task, share in data.sampler.shares().items()}
        metrics.update({f"sampler/{name}": value for name, value in data.sampler.logs().items()
                        if not name.endswith("/share")})
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=trainer.global_step)
