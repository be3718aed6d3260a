"""`SampleLogger` — what the brain draws and answers, in TensorBoard, every few validations.

At every `sample_every_n_validations`-th validation (an option of the model, `BrainModule`; the
first validation counts as number 0, so it is always sampled), the first validation batch of each
task writes

- `images/<task>`: a grid of the first `samples` episodes, one block of rows per image step,
  each row input | target | prediction (`penguin.visual.prediction_grid`);
- `answers/<task>`: for each text step, the prompt, the predicted and the target answer of the
  first `samples` episodes (teacher-forced argmax, decoded with the data's tokenizer).

It reads the `EpisodeResult` that `BrainModule.validation_step` returns, so it costs no extra
forward pass. Only global rank 0 writes, and only to a logger whose `experiment` has `add_image`
(TensorBoard); with any other logger, or none, it does nothing. `penguin.fit` adds it unless the
config brings its own.
"""
from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback

from lit_modules.terms import EpisodeResult
from penguin.episode import Episode
from penguin.visual import prediction_grid


class SampleLogger(Callback):
    def __init__(self, samples: int = 4) -> None:
        if not isinstance(samples, int) or samples < 1:
            raise ValueError(f"SampleLogger.samples: expected a positive integer, got {samples!r}")
        self.samples = samples
        self._validations = 0
        self._logged: set[str] = set()

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._logged = set()

    def on_validation_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                                batch_idx: int, dataloader_idx: int = 0) -> None:
        if not isinstance(outputs, EpisodeResult) or not isinstance(batch, Episode) or batch.task in self._logged:
            return
        self._logged.add(batch.task)
        every = getattr(pl_module.hparams, "sample_every_n_validations", 1)
        if self._validations % every == 0 and trainer.is_global_zero:
            writer = _writer(trainer)
            if writer is not None:
                self._write(writer, batch, outputs, _tokenizer(trainer), trainer.global_step)

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._validations += 1

    def _write(self, writer: Any, episode: Episode, result: EpisodeResult, tokenizer: Any, step: int) -> None:
        n = self.samples
        grid = prediction_grid(episode, result.outputs, n)
        if grid is not None:
            writer.add_image(f"images/{episode.task}", grid, step)
        lines = []
        for episode_step, out in zip(episode.steps, result.outputs):
            if out.text_logits is None or tokenizer is None:
                continue
            predicted = out.text_logits[:n, :-1].argmax(-1)
            for i in range(min(n, predicted.shape[0])):
                mask = episode_step.answer_mask[i]
                lines.append(f"{tokenizer.decode(episode_step.prompt_ids[i], skip_special=False)} → "
                             f"predicted `{tokenizer.decode(predicted[i][mask])}`, "
                             f"target `{tokenizer.decode(episode_step.reply_ids[i, 1:][mask])}`")
        if lines:
            writer.add_text(f"answers/{episode.task}", "\n\n".join(lines), step)


def _writer(trainer: L.Trainer) -> Any:
    """The first logger's experiment that can take images (a TensorBoard `SummaryWriter`), or None."""
    for logger in trainer.loggers:
        experiment = getattr(logger, "experiment", None)
        if hasattr(experiment, "add_image"):
            return experiment
    return None


def _tokenizer(trainer: L.Trainer) -> Any:
    tasks = getattr(getattr(trainer, "datamodule", None), "tasks", None)
    return next(iter(tasks.values())).tokenizer if tasks else None
