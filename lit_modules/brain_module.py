"""`BrainModule` — one LightningModule that trains the brain on any mix of tasks.

It runs whatever `Episode` the data sends (`lit_modules.terms.run_episode`), never asking which
task made it. Per step:

1. **Terms.** The episode's loss terms (image, answer, lm, value, slot), each times the task's
   configured term weight (`TermWeights`; 0 switches a term off).
2. **Objective.** The weighting strategy (`weighting: static | uncertainty | loss_ratio`, see
   `lit_modules/weighting/`) combines the weighted terms, keyed `"task/term"`, into one loss.
3. **Safety.** A non-finite loss skips the optimizer step on every rank (the gradients are
   dropped, not applied); after `max_nonfinite` in a row training stops with a clear message.

**Validation** runs each task's fixed validation batches and logs, per task, `val/<task>/loss`
(the weighted total, what the task sampler watches), `exact_acc` and `token_acc` (teacher-forced,
for text answers), `mse` and `psnr` (image targets), `edit_ratio` (the image error on the pixels the
target changes relative to the input, divided by the error of copying the input — 1.0 means "no
better than copying"), and `value_mae`; per question kind, `val/<task>/<kind>/exact_acc` and
`val/<task>/<kind>/mse` (e.g. the arrow's draw and copy steps apart).
After each validation the losses, reduced across ranks, go to the data's task sampler, and every
task's share is logged as `sampler/<task>/share`.

**TensorBoard** also gets `train/<task>/<term>` (unweighted terms), `train/<task>/total`,
`train/loss`, image grids `images/<task>` (rows: input | target | prediction) and answer samples
`answers/<task>` at every `sample_every_n_validations`-th validation.

**Optimisation.** AdamW (fused on CUDA) with parameter groups: `lr_multipliers` maps a brain
component prefix (e.g. `text_decoder`) to a learning-rate multiplier (the original trained its
text decoder at its own rate); biases, norms, tags and embeddings get no weight decay. Schedule:
linear warmup for `warmup_steps`, then cosine to `min_lr_ratio·lr` at `total_steps` (default: the
trainer's `max_steps`). `compile=True` compiles the brain with `torch.compile` on CUDA.
"""
from __future__ import annotations

import logging
import math
import warnings
from typing import Any

import lightning as L
import torch
from torch import Tensor, nn
from torchmetrics import MeanAbsoluteError, MeanMetric, MeanSquaredError
from torchmetrics.image import PeakSignalNoiseRatio

from datamodules.mixture import resolve_tasks
from lit_modules.terms import (EDIT_WEIGHT, FOREGROUND_WEIGHT, EpisodeResult, answer_correct, changed_pixels,
                               run_episode)
from lit_modules.weighting import make_weighting
from penguin.brain import Brain
from penguin.episode import TERMS, Episode
from penguin.text.prompts import QUESTION_KINDS
from penguin.visual import prediction_grid

log = logging.getLogger(__name__)
MAX_KINDS = 8


class TaskMetrics(nn.Module):
    """Validation metrics of one task (torchmetrics, synchronised across ranks)."""

    def __init__(self) -> None:
        super().__init__()
        self.loss = MeanMetric()
        self.exact_acc = MeanMetric()
        self.token_acc = MeanMetric()
        self.mse = MeanSquaredError()
        self.psnr = PeakSignalNoiseRatio(data_range=1.0)
        self.edit_error = MeanMetric()
        self.edit_baseline = MeanMetric()
        self.value_mae = MeanAbsoluteError()
        self.register_buffer("kind_hits", torch.zeros(MAX_KINDS), persistent=False)
        self.register_buffer("kind_counts", torch.zeros(MAX_KINDS), persistent=False)
        self.register_buffer("kind_squared_error", torch.zeros(MAX_KINDS), persistent=False)
        self.register_buffer("kind_pixels", torch.zeros(MAX_KINDS), persistent=False)

    def kind_buffers(self) -> tuple[Tensor, ...]:
        return self.kind_hits, self.kind_counts, self.kind_squared_error, self.kind_pixels


class BrainModule(L.LightningModule):
    def __init__(self, preset: str = "tiny64", brain: dict[str, Any] | None = None, tasks: list[str] | str = "all",
                 weighting: str = "static", weighting_options: dict[str, Any] | None = None,
                 lr: float = 5e-4, lr_multipliers: dict[str, float] | None = None, weight_decay: float = 0.05,
                 betas: tuple[float, float] = (0.9, 0.98), warmup_steps: int = 100, total_steps: int | None = None,
                 min_lr_ratio: float = 0.1, foreground_weight: float = FOREGROUND_WEIGHT,
                 edit_weight: float = EDIT_WEIGHT, compile: bool = False,
                 max_nonfinite: int = 5, sample_every_n_validations: int = 1) -> None:
        super().__init__()
        self.save_hyperparameters()
        try:
            self.brain = Brain.from_preset(preset, **(brain or {}))
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"model.preset/model.brain: {e}") from None
        self.task_names = resolve_tasks(tasks)
        keys = [f"{t}/{term}" for t in self.task_names for term in TERMS]
        self.weighting = make_weighting(weighting, keys, **(weighting_options or {}))
        self.metrics = nn.ModuleDict({t: TaskMetrics() for t in self.task_names})
        self._step_brain = self.brain
        self._nonfinite_in_a_row = 0
        self._skip_step = False
        self._validations = 0
        self._samples_logged: set[str] = set()
        self._kinds: dict[str, tuple[str, ...]] = {}
        for name, value in (("lr", lr), ("warmup_steps", warmup_steps), ("min_lr_ratio", min_lr_ratio),
                            ("foreground_weight", foreground_weight), ("edit_weight", edit_weight),
                            ("max_nonfinite", max_nonfinite)):
            if not isinstance(value, (int, float)) or value < 0 or (name == "max_nonfinite" and value < 1):
                raise ValueError(f"model.{name}: expected a non-negative number, got {value!r}")

    # ------------------------------------------------------------------ setup
    def setup(self, stage: str) -> None:
        data = getattr(self.trainer, "datamodule", None)
        if data is not None:
            size, want = getattr(data, "image_size", None), self.brain.config.image_size
            if size is not None and size != want:
                raise ValueError(f"data.image_size={size} does not match model.preset {self.hparams.preset} "
                                 f"({want} px); set data.image_size={want} or choose a preset for {size} px")
            tokenizer = next(iter(data.tasks.values())).tokenizer if hasattr(data, "tasks") else None
            if tokenizer is not None and tokenizer.vocab_size > self.brain.config.vocab_size:
                raise ValueError(f"the tokenizer has {tokenizer.vocab_size} tokens but model.preset "
                                 f"{self.hparams.preset} has vocab_size {self.brain.config.vocab_size}; "
                                 "raise model.brain.vocab_size")
            if len(QUESTION_KINDS) > self.brain.config.question_kinds:
                raise ValueError(f"the prompt registry has {len(QUESTION_KINDS)} question kinds but model.preset "
                                 f"{self.hparams.preset} has question_kinds {self.brain.config.question_kinds}; "
                                 "raise model.brain.question_kinds")
            for name, task in getattr(data, "tasks", {}).items():  # every rank names every task's kinds
                self._kinds[name] = task.val_batch(0).question_kinds
            missing = sorted(set(getattr(data, "task_names", [])) - set(self.task_names))
            if missing:
                raise ValueError(f"data.tasks has {missing} but model.tasks does not; keep them the same")
        if self.hparams.compile and torch.cuda.is_available():
            self._step_brain = torch.compile(self.brain)

    # ------------------------------------------------------------------ training
    def run(self, episode: Episode) -> EpisodeResult:
        return run_episode(self._step_brain, episode, foreground_weight=self.hparams.foreground_weight,
                           edit_weight=self.hparams.edit_weight)

    def weighted_terms(self, episode: Episode, result: EpisodeResult) -> dict[str, Tensor]:
        w = episode.weights.as_dict()
        return {f"{episode.task}/{name}": w[name] * value for name, value in result.terms.items()}

    def training_step(self, episode: Episode, batch_idx: int) -> Tensor:
        self._check_same_task_on_every_rank(episode.task)
        result = self.run(episode)
        weighted = self.weighted_terms(episode, result)
        loss = self.weighting(weighted)
        b = episode.batch_size
        for name, value in result.terms.items():
            self.log(f"train/{episode.task}/{name}", value.detach(), batch_size=b)
        self.log(f"train/{episode.task}/total", sum(weighted.values()).detach(), batch_size=b)
        self.log("train/loss", loss.detach(), batch_size=b, prog_bar=True)
        self._note_finiteness(loss)
        return loss

    def _note_finiteness(self, loss: Tensor) -> None:
        finite = torch.isfinite(loss.detach()).float()
        finite = self.trainer.strategy.reduce(finite, reduce_op="min") if self._trainer is not None else finite
        self._skip_step = bool(finite < 1)
        if not self._skip_step:
            self._nonfinite_in_a_row = 0
            return
        self._nonfinite_in_a_row += 1
        if self._nonfinite_in_a_row >= self.hparams.max_nonfinite:
            raise RuntimeError(f"the loss was not finite for {self._nonfinite_in_a_row} steps in a row (last at "
                               f"step {self.global_step}); lower model.lr, check the data, or resume from the "
                               "last good checkpoint")

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        if self._skip_step:  # drop the gradients: AdamW leaves parameters without one untouched
            for group in optimizer.param_groups:
                for p in group["params"]:
                    p.grad = None
            self.log("train/skipped_nonfinite", 1.0, reduce_fx="sum")

    def _check_same_task_on_every_rank(self, task: str) -> None:
        if self._trainer is None or self.trainer.world_size == 1 or self.global_step % 50:
            return
        index = torch.tensor(self.task_names.index(task), device=self.device)
        gathered = self.all_gather(index)
        if not bool((gathered == index).all()):
            raise RuntimeError(f"ranks disagree on the task of step {self.global_step}: {gathered.tolist()}; "
                               "the task schedule must be identical on every rank")

    # ------------------------------------------------------------------ validation
    def validation_step(self, episode: Episode, batch_idx: int) -> None:
        result = self.run(episode)
        m: TaskMetrics = self.metrics[episode.task]
        self._kinds[episode.task] = episode.question_kinds
        m.loss.update(sum(self.weighted_terms(episode, result).values()))
        for step, out in zip(episode.steps, result.outputs):
            if out.text_logits is not None and step.has_answer:
                exact, hits = answer_correct(out.text_logits[:, :-1], step.reply_ids[:, 1:], step.answer_mask)
                m.exact_acc.update(exact.float())
                m.token_acc.update(hits.sum() / step.answer_mask.sum())
                if step.question is not None:
                    kind = step.question.clamp(0, MAX_KINDS - 1)
                    m.kind_hits.index_add_(0, kind, exact.float())
                    m.kind_counts.index_add_(0, kind, torch.ones_like(exact, dtype=torch.float))
            if step.image_target is not None and out.image is not None:
                pred, target = out.image.float().clamp(0, 1), step.image_target.float()
                m.mse.update(pred, target)
                m.psnr.update(pred, target)
                if step.question is not None:
                    kind = step.question.clamp(0, MAX_KINDS - 1)
                    m.kind_squared_error.index_add_(0, kind, (pred - target).pow(2).flatten(1).sum(1))
                    m.kind_pixels.index_add_(0, kind, torch.full_like(kind, target[0].numel(), dtype=torch.float))
                if step.image is not None:
                    changed = changed_pixels(step.image, target)
                    if bool(changed.any()):
                        n = changed.sum() * 3
                        m.edit_error.update(((pred - target).pow(2) * changed).sum() / n, weight=n)
                        m.edit_baseline.update(((step.image.float() - target).pow(2) * changed).sum() / n, weight=n)
            if step.value_target is not None:
                m.value_mae.update(out.value.float(), step.value_target.float())
        if episode.task not in self._samples_logged:
            self._samples_logged.add(episode.task)
            if self._validations % max(1, self.hparams.sample_every_n_validations) == 0:
                self._log_samples(episode, result)

    def on_validation_epoch_start(self) -> None:
        self._samples_logged = set()

    def on_validation_epoch_end(self) -> None:
        # Under DDP the validation batches are split across ranks, so a rank may hold no update of
        # a metric that another rank has. Computing a metric is a collective: decide what to compute
        # from the update counts summed over the ranks, so that every rank computes the same ones
        # in the same order (deciding from local counts deadlocked two ranks).
        names = ("loss", "exact_acc", "token_acc", "mse", "psnr", "value_mae", "edit_error")
        local = [[getattr(m, n).update_count for n in names] for m in self.metrics.values()]
        counts = self.trainer.strategy.reduce(torch.tensor(local, dtype=torch.float, device=self.device),
                                              reduce_op="sum")
        losses: dict[str, float] = {}
        with warnings.catch_warnings():  # a rank without updates of its own still joins the sync
            warnings.filterwarnings("ignore", message=".*was called before the ``update`` method")
            for (task, m), count in zip(self.metrics.items(), counts.tolist()):
                if count[0] > 0:
                    losses[task] = self._log_task_metrics(task, m, dict(zip(names, count)))
        self._validations += 1
        self._update_sampler(losses)

    def _log_task_metrics(self, task: str, m: TaskMetrics, counts: dict[str, float]) -> float:
        """Log one task's validation metrics (`counts`: updates over all ranks); its loss."""
        loss = float(m.loss.compute())
        self.log(f"val/{task}/loss", loss, sync_dist=False)
        for name in ("exact_acc", "token_acc", "mse", "psnr", "value_mae"):
            if counts[name]:
                self.log(f"val/{task}/{name}", getattr(m, name).compute())
        if counts["edit_error"]:
            ratio = m.edit_error.compute() / m.edit_baseline.compute().clamp(min=1e-12)
            self.log(f"val/{task}/edit_ratio", ratio)
        hits, answered, squared_error, pixels = (self.trainer.strategy.reduce(b.clone(), reduce_op="sum")
                                                 for b in m.kind_buffers())
        for k, name in enumerate(self._kinds.get(task, ())):
            if answered[k] > 0:
                self.log(f"val/{task}/{name}/exact_acc", hits[k] / answered[k])
            if pixels[k] > 0:
                self.log(f"val/{task}/{name}/mse", squared_error[k] / pixels[k])
        for metric in m.children():
            if hasattr(metric, "reset"):
                metric.reset()
        for buffer in m.kind_buffers():
            buffer.zero_()
        return loss

    def _update_sampler(self, losses: dict[str, float]) -> None:
        data = getattr(self.trainer, "datamodule", None)
        if not hasattr(data, "update_sampler") or self.trainer.sanity_checking or self.trainer.state.fn != "fit":
            return
        for task, event in data.update_sampler(losses).items():
            log.info("task sampler: %s %s at step %d; shares now %s", task, event, self.global_step,
                     {t: round(v, 3) for t, v in data.sampler.shares().items()})
        sampler = data.sampler
        for task, share in sampler.shares().items():
            self.log(f"sampler/{task}/share", share)
        for name, value in sampler.logs().items():
            if not name.endswith("/share"):
                self.log(f"sampler/{name}", value)

    # ------------------------------------------------------------------ samples for TensorBoard
    def _log_samples(self, episode: Episode, result: EpisodeResult, n: int = 4) -> None:
        logger = self.logger
        writer = getattr(logger, "experiment", None) if logger is not None else None
        if writer is None or not hasattr(writer, "add_image") or self.global_rank != 0:
            return
        grid = prediction_grid(episode, result.outputs, n)
        if grid is not None:
            writer.add_image(f"images/{episode.task}", grid, self.global_step)
        lines = []
        tokenizer = self._tokenizer()
        for step, out in zip(episode.steps, result.outputs):
            if out.text_logits is None or tokenizer is None:
                continue
            predicted = out.text_logits[:n, :-1].argmax(-1)
            for i in range(min(n, predicted.shape[0])):
                mask = step.answer_mask[i]
                lines.append(f"{tokenizer.decode(step.prompt_ids[i], skip_special=False)} → "
                             f"predicted `{tokenizer.decode(predicted[i][mask])}`, "
                             f"target `{tokenizer.decode(step.reply_ids[i, 1:][mask])}`")
        if lines:
            writer.add_text(f"answers/{episode.task}", "\n\n".join(lines), self.global_step)

    def _tokenizer(self):
        data = getattr(self.trainer, "datamodule", None)
        tasks = getattr(data, "tasks", None)
        return next(iter(tasks.values())).tokenizer if tasks else None

    # ------------------------------------------------------------------ optimisation
    def configure_optimizers(self) -> dict[str, Any]:
        hp = self.hparams
        multipliers = dict(hp.lr_multipliers or {})
        components = {name for name, _ in self.brain.named_children()}
        unknown = sorted(set(multipliers) - components)
        if unknown:
            raise ValueError(f"model.lr_multipliers: {unknown} are not brain components; valid: {sorted(components)}")
        groups: dict[tuple[float, bool], list[nn.Parameter]] = {}
        for name, p in self.brain.named_parameters():
            if not p.requires_grad:
                continue
            component = name.split(".")[0]
            decay = p.ndim >= 2 and "embedding" not in name and "tag" not in name and "token" not in name.split(".")[-1]
            groups.setdefault((multipliers.get(component, 1.0), decay), []).append(p)
        weighting = [p for p in self.weighting.parameters() if p.requires_grad]
        if weighting:
            groups.setdefault((1.0, False), []).extend(weighting)
        param_groups = [{"params": ps, "lr": hp.lr * mult, "weight_decay": hp.weight_decay if decay else 0.0}
                        for (mult, decay), ps in sorted(groups.items())]
        fused = torch.cuda.is_available() and all(p.is_cuda for g in param_groups for p in g["params"])
        optimizer = torch.optim.AdamW(param_groups, lr=hp.lr, betas=tuple(hp.betas), fused=fused or None)
        total = hp.total_steps or (self.trainer.max_steps if self._trainer is not None else -1)
        if not total or total < 0:
            total = 100_000
        warmup, floor = hp.warmup_steps, hp.min_lr_ratio

        def schedule(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            progress = min(1.0, (step - warmup) / max(1, total - warmup))
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
