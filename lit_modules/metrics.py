"""Validation metrics — per task and per question kind, synchronised across ranks.

`ValidationMetrics(tasks)` holds one `TaskMetrics` per task. `BrainModule` tells it every task's
question kinds at setup (`set_kinds`), feeds it each validation episode (`update`) and, at the end
of the validation, has it compute, log and reset everything (`compute_and_log`).

Logged per task (only what the task's episodes carry):

| name                          | what                                                                    |
|-------------------------------|-------------------------------------------------------------------------|
| `val/<task>/loss`             | the weighted total of the terms (what the task sampler watches)         |
| `val/<task>/exact_acc`        | share of text answers whose every token is the argmax (teacher-forced)  |
| `val/<task>/token_acc`        | share of answer tokens that are the argmax                              |
| `val/<task>/mse`, `psnr`      | image prediction against the image target                               |
| `val/<task>/edit_ratio`       | image error on the pixels the target changes relative to the input,     |
|                               | over the error of copying the input (1.0: no better than copying)       |
| `val/<task>/value_mae`        | value head against the value target                                     |
| `val/<task>/perplexity`       | exp of the prompt's next-token cross-entropy, averaged over its tokens  |
|                               | (the LM term's positions, `lm_mask`), for tasks that train the LM term  |
| `val/<task>/readout_acc`      | share of read-out steps' samples whose drawing, read out (`read_out`),  |
|                               | is what the goal asks (`penguin.game.readout_goal.satisfied`)           |
| `val/<task>/<kind>/exact_acc` | `exact_acc` of the steps asking question kind `<kind>`                  |
| `val/<task>/<kind>/mse`       | `mse` of the steps asking kind `<kind>` (the arrow's draw and copy apart) |

**The validation error.** `compute_and_log` returns, beside every task's loss, its *error* where
it has a score: 1 − `exact_acc` for a task with text answers, else its `edit_ratio` (lower is
better for both; a task with neither has no error). The adaptive task sampler watches it instead
of the loss with `signal: error` (`lit_modules/sampler.py`).

**Masked samples.** A sample without answer tokens at a step (e.g. a `full_move` episode whose gold
is already collected: label −1, empty answer mask) is left out of `exact_acc`; a sample whose
`question` is −1 is left out of the per-kind sums.

**Question kinds.** A step's `question [B]` indexes its episode's `question_kinds`. The per-kind
sums are sized from the task's kind list, one slot per kind, so every kind is logged on its own
however many a task has. An episode whose kinds differ from the ones its task was set up with is a
`ValueError` (the slots would mean other kinds). A task never set up takes the kinds of its first
validation episode — enough in one process; under DDP every rank must be set up (`BrainModule.setup`
does it).

**DDP.** The validation batches are split across ranks, so a rank may hold no update of a metric
that another rank has. Computing a metric is a collective: `compute_and_log` decides what to
compute from the update counts summed over the ranks, so every rank computes the same metrics in
the same order (deciding from local counts deadlocks the ranks). Every rank must have been told
every task's kinds, so the per-kind sums have the same size on every rank.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torchmetrics import MeanAbsoluteError, MeanMetric, MeanSquaredError
from torchmetrics.image import PeakSignalNoiseRatio

from lit_modules.terms import EpisodeResult, answer_correct, changed_pixels, masked_cross_entropy
from penguin.episode import Episode
from penguin.game.readout import read_out
from penguin.game.readout_goal import satisfied

COUNTED = ("loss", "exact_acc", "token_acc", "mse", "psnr", "value_mae", "edit_error", "readout_acc", "lm_nll")
LOGGED = ("exact_acc", "token_acc", "mse", "psnr", "value_mae", "readout_acc")
HITS, ANSWERED, SQUARED_ERROR, PIXELS = range(4)  # the rows of `TaskMetrics.kind_sums`


class TaskMetrics(nn.Module):
    """One task's validation metrics; `kind_sums [4, K]` holds, per question kind, the exact
    answers, the answers, the squared image error and the image pixels."""

    def __init__(self, kinds: Sequence[str] = ()) -> None:
        super().__init__()
        self.kinds = tuple(kinds)
        self.loss = MeanMetric()
        self.exact_acc = MeanMetric()
        self.token_acc = MeanMetric()
        self.mse = MeanSquaredError()
        self.psnr = PeakSignalNoiseRatio(data_range=1.0)
        self.edit_error = MeanMetric()
        self.edit_baseline = MeanMetric()
        self.value_mae = MeanAbsoluteError()
        self.readout_acc = MeanMetric()
        self.lm_nll = MeanMetric()  # per token, so the perplexity weighs every token once
        self.register_buffer("kind_sums", torch.zeros(4, len(self.kinds)), persistent=False)

    def update(self, episode: Episode, result: EpisodeResult, loss: Tensor) -> None:
        self.loss.update(loss)
        for step, out in zip(episode.steps, result.outputs):
            asked = step.question >= 0 if step.question is not None else None  # −1: no question on that sample
            if out.text_logits is not None and step.has_answer:
                exact, hits = answer_correct(out.text_logits[:, :-1], step.reply_ids[:, 1:], step.answer_mask)
                answered = step.answer_mask.any(dim=1)  # a sample without answer tokens is not scored
                self.exact_acc.update(exact[answered].float())
                self.token_acc.update(hits.sum() / step.answer_mask.sum())
                if step.question is not None:
                    scored = answered & asked
                    self.kind_sums[HITS].index_add_(0, step.question[scored], exact[scored].float())
                    self.kind_sums[ANSWERED].index_add_(0, step.question[scored], torch.ones_like(
                        exact[scored], dtype=torch.float))
            if out.prompt_logits is not None and step.has_lm and episode.weights.lm > 0:
                n = step.lm_mask.sum()
                self.lm_nll.update(masked_cross_entropy(out.prompt_logits[:, :-1], step.prompt_ids[:, 1:],
                                                        step.lm_mask), weight=n)
            if step.image_target is not None and out.image is not None:
                pred, target = out.image.float().clamp(0, 1), step.image_target.float()
                self.mse.update(pred, target)
                self.psnr.update(pred, target)
                if step.question is not None:
                    kinds, error = step.question[asked], (pred - target).pow(2).flatten(1).sum(1)[asked]
                    self.kind_sums[SQUARED_ERROR].index_add_(0, kinds, error)
                    self.kind_sums[PIXELS].index_add_(0, kinds, torch.full_like(kinds, target[0].numel(), dtype=torch.float))
                if step.image is not None:
                    changed = changed_pixels(step.image, target)
                    if bool(changed.any()):
                        n = changed.sum() * 3
                        self.edit_error.update(((pred - target).pow(2) * changed).sum() / n, weight=n)
                        self.edit_baseline.update(((step.image.float() - target).pow(2) * changed).sum() / n, weight=n)
            if step.value_target is not None:
                self.value_mae.update(out.value.float(), step.value_target.float())
            if step.readout is not None and out.image is not None:
                self.readout_acc.update(satisfied(step.readout, read_out(out.image.float().clamp(0, 1))).float())

    def counts(self) -> list[int]:
        """This rank's number of updates of each metric in `COUNTED`."""
        return [getattr(self, name).update_count for name in COUNTED]

    def reset(self) -> None:
        for metric in self.children():
            metric.reset()
        self.kind_sums.zero_()


class ValidationMetrics(nn.Module):
    """`TaskMetrics` for each of `tasks`; see the module docstring for what is logged."""

    def __init__(self, tasks: Sequence[str]) -> None:
        super().__init__()
        self.tasks = nn.ModuleDict({task: TaskMetrics() for task in tasks})

    def set_kinds(self, task: str, kinds: Sequence[str]) -> None:
        """Size `task`'s per-kind sums for its question kinds (call on every rank, before validating)."""
        if task not in self.tasks:
            raise ValueError(f"data.tasks: {task!r} is not one of model.tasks {list(self.tasks)}; keep them the same")
        if tuple(kinds) != self.tasks[task].kinds:
            device = self.tasks[task].kind_sums.device
            self.tasks[task] = TaskMetrics(kinds).to(device)

    def update(self, episode: Episode, result: EpisodeResult, loss: Tensor) -> None:
        """Add one validation episode; `loss` is its weighted total."""
        metrics = self.tasks[episode.task]
        if not metrics.kinds and episode.question_kinds:
            self.set_kinds(episode.task, episode.question_kinds)
            metrics = self.tasks[episode.task]
        elif episode.question_kinds and tuple(episode.question_kinds) != metrics.kinds:
            raise ValueError(f"task {episode.task}: a validation episode asks the question kinds "
                             f"{list(episode.question_kinds)} but the task was set up with {list(metrics.kinds)}; "
                             "every episode of a task must name the same kinds")
        metrics.update(episode, result, loss)

    def compute_and_log(self, log_fn: Callable[..., Any], strategy: Any) -> tuple[dict[str, float], dict[str, float]]:
        """Log every task's metrics with `log_fn(name, value, ...)` (`LightningModule.log`), reset
        them, and return `({task: val loss}, {task: val error})` for the tasks validated on some
        rank (the error only for tasks that have one, see the module docstring). `strategy.reduce`
        sums across ranks; call on every rank."""
        local = [m.counts() for m in self.tasks.values()]
        device = next(iter(self.tasks.values())).kind_sums.device
        counts = strategy.reduce(torch.tensor(local, dtype=torch.float, device=device), reduce_op="sum")
        losses: dict[str, float] = {}
        errors: dict[str, float] = {}
        with warnings.catch_warnings():  # a rank without updates of its own still joins the sync
            warnings.filterwarnings("ignore", message=".*was called before the ``update`` method")
            for (task, metrics), count in zip(self.tasks.items(), counts.tolist()):
                if count[0] > 0:
                    losses[task], error = _log_task(task, metrics, dict(zip(COUNTED, count)), log_fn, strategy)
                    if error is not None:
                        errors[task] = error
        for metrics in self.tasks.values():
            metrics.reset()
        return losses, errors


def _log_task(task: str, m: TaskMetrics, counts: dict[str, float], log_fn: Callable[..., Any],
              strategy: Any) -> tuple[float, float | None]:
    """Log one task's metrics (`counts`: updates summed over the ranks); its loss and its error."""
    loss = float(m.loss.compute())
    log_fn(f"val/{task}/loss", loss, sync_dist=False)
    error = None
    for name in LOGGED:
        if counts[name]:
            value = getattr(m, name).compute()
            log_fn(f"val/{task}/{name}", value)
            if name == "exact_acc":
                error = 1.0 - float(value)
    if counts["lm_nll"]:
        log_fn(f"val/{task}/perplexity", m.lm_nll.compute().exp())
    if counts["edit_error"]:
        edit_ratio = m.edit_error.compute() / m.edit_baseline.compute().clamp(min=1e-12)
        log_fn(f"val/{task}/edit_ratio", edit_ratio)
        if error is None:
            error = float(edit_ratio)
    sums = strategy.reduce(m.kind_sums.clone(), reduce_op="sum")
    for k, kind in enumerate(m.kinds):
        if sums[ANSWERED, k] > 0:
            log_fn(f"val/{task}/{kind}/exact_acc", sums[HITS, k] / sums[ANSWERED, k])
        if sums[PIXELS, k] > 0:
            log_fn(f"val/{task}/{kind}/mse", sums[SQUARED_ERROR, k] / sums[PIXELS, k])
    return loss, error
