"""`BrainModule` — one LightningModule that trains the brain on any mix of tasks.

It runs whatever `Episode` the data sends (`lit_modules.terms.run_episode`), never asking which
task made it. Per training step:

1. **Terms.** The episode's loss terms (image, answer, lm, value, slot, kind, readout), each times the
   task's configured term weight (`TermWeights`; 0 switches a term off).
2. **Objective.** The weighting strategy (`weighting: static | uncertainty | loss_ratio`, see
   `lit_modules/weighting/`) combines the weighted terms, keyed `"task/term"`, into one loss.
3. **Safety.** A step whose loss or any gradient is not finite (a bf16 overflow can give an
   infinite gradient under a finite loss) is skipped on every rank: the gradients are dropped
   before clipping and the optimizer leaves every weight as it was. After `max_nonfinite` skips in
   a row training stops with `NonFiniteTraining` (`python -m penguin.fit` exits with code 3 and
   one line).
4. **Step.** AdamW with parameter groups and a warmup + cosine schedule
   (`lit_modules/optimization.py`: `lr`, `lr_multipliers`, `weight_decay`, `betas`,
   `warmup_steps`, `total_steps` — default the trainer's `max_steps` — and `min_lr_ratio`).
   A task's `lr_scale` option (`data.task_options.TASK.lr_scale`) multiplies every group's
   learning rate for that task's steps only.

Logged while training: `train/<task>/<term>` (unweighted terms), `train/<task>/total` (weighted),
`train/loss` (the objective) and `train/skipped_nonfinite`.

**Validation** runs each task's fixed validation batches through the same terms and feeds
`lit_modules/metrics.py`'s `ValidationMetrics`, which logs `val/<task>/...` and per question kind
`val/<task>/<kind>/...` (see there). `validation_step` returns the `EpisodeResult`, for callbacks;
after each validation `last_val_losses` holds `{task: val loss}` reduced across ranks, and
`last_val_errors` `{task: val error}` for the tasks that have one (1 − `exact_acc`, else `edit_ratio`).

What else a run does lives in callbacks that `penguin.fit` adds: `SamplerFeedback` feeds
`last_val_losses` (or, for a sampler watching the error, `last_val_errors`) to the data's task sampler and logs `sampler/<task>/share`; `SampleLogger`
writes image grids and answer samples to TensorBoard at every `sample_every_n_validations`-th
validation (an option of this module, so that configs and checkpoints keep it).

**State.** Every episode carries the brain's state from step to step. What a training batch
starts from is `carried_state` (None: fresh), which `callbacks/memory_reset.py::MemoryReset`
sets; with `carry_state` on, the batch's final state is left in `last_state` for it. Validation
always starts every episode fresh. The compiled brain (`compile=True`) is not a registered
submodule, so checkpoints hold each weight once, under `brain.` (and its average, when kept, under
`averaged.brain.`), compiled or not.

**Warm start.** `init_from` (a checkpoint path, or `RUN:best` / `RUN:best:<task>`) and `init_components` (e.g. `[image_encoder]`)
start a new run from earlier brain weights with a fresh optimizer, schedule and sampler over this
run's tasks (`lit_modules/warm_start.py`); a resumed run ignores them.

**Averaged weights.** The module keeps an exponential moving average of the brain's weights
(`averaged`, `lit_modules/weight_average.py`; `ema_decay` 0.99 by default, None for none), updated
after every optimizer step (at the full decay from the first step on a whole-brain warm start,
after a ramp otherwise); validation, evaluation and warm starts from its checkpoints use the
average, while training steps the brain itself.

Other options: `preset`/`brain` (the brain, `penguin.brain`), `tasks` (the same as `data.tasks`),
`foreground_weight`/`edit_weight` (the image term, `lit_modules/terms.py`), `compile=True`
(`torch.compile` of the brain on CUDA).
"""
from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch import Tensor

from datamodules.mixture import resolve_tasks
from lit_modules.metrics import ValidationMetrics
from lit_modules.optimization import adamw_with_schedule
from lit_modules.terms import EDIT_WEIGHT, FOREGROUND_WEIGHT, EpisodeResult, run_episode
from lit_modules.warm_start import load_brain_weights
from lit_modules.weight_average import AVERAGED, WeightAverage, holds_average
from lit_modules.weighting import make_weighting
from penguin.brain import Brain, BrainState
from penguin.episode import TERMS, Episode

DEFAULT_TOTAL_STEPS = 100_000  # the schedule's length when neither total_steps nor max_steps is set
COMPILE_RECOMPILE_LIMIT = 32  # room for every step kind, with and without gradients (see setup)


class NonFiniteTraining(RuntimeError):
    """`max_nonfinite` steps in a row had a non-finite loss or gradient; training stopped."""


class BrainModule(L.LightningModule):
    def __init__(self, preset: str = "tiny64", brain: dict[str, Any] | None = None, tasks: list[str] | str = "all",
                 weighting: str = "static", weighting_options: dict[str, Any] | None = None,
                 lr: float = 5e-4, lr_multipliers: dict[str, float] | None = None, weight_decay: float = 0.05,
                 betas: tuple[float, float] = (0.9, 0.98), warmup_steps: int = 100, total_steps: int | None = None,
                 min_lr_ratio: float = 0.1, foreground_weight: float = FOREGROUND_WEIGHT,
                 edit_weight: float = EDIT_WEIGHT, compile: bool = False,
                 max_nonfinite: int = 5, sample_every_n_validations: int = 1, init_from: str | None = None,
                 init_components: list[str] | None = None, ema_decay: float | None = 0.99) -> None:
        super().__init__()
        self.save_hyperparameters()
        try:
            self.brain = Brain.from_preset(preset, **(brain or {}))
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"model.preset/model.brain: {e}") from None
        # The weights validation, evaluation and warm starts use (lit_modules/weight_average.py).
        # Decided by the setup, not by what happened at fit start, so a resume keeps it.
        whole_brain_warm_start = bool(init_from) and init_components is None
        self.averaged = (WeightAverage(self.brain, ema_decay, ramp=not whole_brain_warm_start)
                         if ema_decay is not None else None)
        self.task_names = resolve_tasks(tasks)
        keys = [f"{t}/{term}" for t in self.task_names for term in TERMS]
        self.weighting = make_weighting(weighting, keys, **(weighting_options or {}))
        self.metrics = ValidationMetrics(self.task_names)
        self.last_val_losses: dict[str, float] = {}
        self.last_val_errors: dict[str, float] = {}
        self._compiled: torch.nn.Module | None = None  # never a registered submodule (see State above)
        self.carried_state: BrainState | None = None
        self.carry_state = False
        self.last_state: BrainState | None = None
        self._nonfinite_in_a_row = 0
        self._loss: Tensor | None = None
        self._lr_scale = 1.0  # the lr_scale of the task the current step trains
        for name, value in (("lr", lr), ("warmup_steps", warmup_steps), ("min_lr_ratio", min_lr_ratio),
                            ("foreground_weight", foreground_weight), ("edit_weight", edit_weight)):
            if not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"model.{name}: expected a non-negative number, got {value!r}")
        for name, value in (("max_nonfinite", max_nonfinite),
                            ("sample_every_n_validations", sample_every_n_validations)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"model.{name}: expected a positive integer, got {value!r}")

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
            for task in getattr(data, "tasks", {}).values():  # the same kind classes on every rank
                self.brain.kind_vocabulary.add(task.kinds)
            missing = sorted(set(getattr(data, "task_names", [])) - set(self.task_names))
            if missing:
                raise ValueError(f"data.tasks has {missing} but model.tasks does not; keep them the same")
            for name, task in getattr(data, "tasks", {}).items():  # every rank sizes every task's kinds
                self.metrics.set_kinds(name, task.val_batch(0).question_kinds)
        if self.hparams.compile and torch.cuda.is_available():
            # Each kind of step (question, image-only, with canvases, text-only) is compiled with
            # and without gradients: 8 guard sets, dynamo's default limit, past which it falls back
            # to eager without a word (bench gpu counts recompiles).
            torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, COMPILE_RECOMPILE_LIMIT)
            object.__setattr__(self, "_compiled", torch.compile(self.brain))

    def on_fit_start(self) -> None:
        if self.hparams.init_from and self.trainer.ckpt_path is None:
            report = load_brain_weights(self.brain, self.hparams.init_from, self.hparams.init_components)
            if self.trainer.is_global_zero:
                print(report, flush=True)
            if self.averaged is not None:
                self.averaged.reset(self.brain)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Checkpoints of Penguin 0.1 also held every weight under `_step_brain.` (the same brain
        # registered twice); the weights under `brain.` are the ones.
        state = checkpoint.get("state_dict", {})
        for key in [k for k in state if k.startswith("_step_brain.")]:
            del state[key]
        # A weighting parameter of a loss term the checkpoint's version did not have (e.g. the
        # `readout` term's `log_vars.<task>__readout`) starts at its initial value; the rest resume.
        if state:
            for key, value in self.state_dict().items():
                if key.startswith("weighting.") and key not in state:
                    state[key] = value.detach().clone()
        # A run resumed with `ema_decay` from a checkpoint written without it starts its average
        # from the checkpoint's trained weights.
        if state and self.averaged is not None and not holds_average(state):
            for key in [k for k in state if k.startswith("brain.")]:
                state[AVERAGED + key[len("brain."):]] = state[key]

    # ------------------------------------------------------------------ training
    def run(self, episode: Episode, state: BrainState | None = None) -> EpisodeResult:
        """The episode through the brain, from `state` or fresh: the trained brain (compiled when
        `compile=True` on CUDA) while the module is in training mode, else the averaged one when
        `ema_decay` is set. The average runs eagerly: it only validates and evaluates, and a second
        compiled copy would compile every validation step kind again for it."""
        if self.averaged is not None and not self.training:
            brain = self.averaged.brain
        else:
            brain = self._compiled or self.brain
        return run_episode(brain, episode, state,
                           foreground_weight=self.hparams.foreground_weight, edit_weight=self.hparams.edit_weight)

    def weighted_terms(self, episode: Episode, result: EpisodeResult) -> dict[str, Tensor]:
        w = episode.weights.as_dict()
        return {f"{episode.task}/{name}": w[name] * value for name, value in result.terms.items()}

    def training_step(self, episode: Episode, batch_idx: int) -> Tensor:
        self._check_same_task_on_every_rank(episode.task)
        result = self.run(episode, self.carried_state)
        if self.carry_state:
            self.last_state = result.state
        weighted = self.weighted_terms(episode, result)
        loss = self.weighting(weighted)
        b = episode.batch_size
        for name, value in result.terms.items():
            self.log(f"train/{episode.task}/{name}", value.detach(), batch_size=b)
        self.log(f"train/{episode.task}/total", sum(weighted.values()).detach(), batch_size=b)
        self.log("train/loss", loss.detach(), batch_size=b, prog_bar=True)
        self._loss = loss.detach()
        self._lr_scale = episode.lr_scale
        return loss

    def optimizer_step(self, epoch: int, batch_idx: int, optimizer, optimizer_closure=None) -> None:
        """Lightning's step, with every group's learning rate put back afterwards: a task's
        `lr_scale` (applied in `on_before_optimizer_step`, once the closure has said which task the
        step trains) holds for its own step only."""
        scheduled = [group["lr"] for group in optimizer.param_groups]
        try:
            super().optimizer_step(epoch, batch_idx, optimizer, optimizer_closure)
        finally:
            for group, lr in zip(optimizer.param_groups, scheduled):
                group["lr"] = lr
        if self.averaged is not None:  # after every optimizer step, a skipped one included
            self.averaged.update(self.brain, self.global_step)

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Skip the step (drop every gradient) when the loss or a gradient is not finite on any rank.

        Runs after backward and before gradient clipping; one device sync per step decides."""
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        finite = torch.isfinite(self._loss) if self._loss is not None else torch.ones((), dtype=torch.bool,
                                                                                      device=self.device)
        if grads:
            finite = finite & torch.isfinite(torch.stack(torch._foreach_norm(grads))).all()
        finite = finite.float()
        if self._trainer is not None:
            finite = self.trainer.strategy.reduce(finite, reduce_op="min")
        if bool(finite >= 1):
            self._nonfinite_in_a_row = 0
            if self._lr_scale != 1.0:  # this task's steps train at lr_scale × the schedule
                for group in optimizer.param_groups:
                    group["lr"] = group["lr"] * self._lr_scale
            return
        for group in optimizer.param_groups:  # AdamW leaves parameters without a gradient untouched
            for p in group["params"]:
                p.grad = None
        self._nonfinite_in_a_row += 1
        self.log("train/skipped_nonfinite", 1.0, reduce_fx="sum")
        if self._nonfinite_in_a_row >= self.hparams.max_nonfinite:
            raise NonFiniteTraining(
                f"the loss or a gradient was not finite for {self._nonfinite_in_a_row} steps in a row (last at step "
                f"{self.global_step}); no step was applied and no non-finite weight was saved: resume with "
                "--ckpt_path last and a lower model.lr, or check the data")

    def _check_same_task_on_every_rank(self, task: str) -> None:
        if self._trainer is None or self.trainer.world_size == 1 or self.global_step % 50:
            return
        index = torch.tensor(self.task_names.index(task), device=self.device)
        gathered = self.all_gather(index)
        if not bool((gathered == index).all()):
            raise RuntimeError(f"ranks disagree on the task of step {self.global_step}: {gathered.tolist()}; "
                               "the task schedule must be identical on every rank")

    # ------------------------------------------------------------------ validation
    def validation_step(self, episode: Episode, batch_idx: int) -> EpisodeResult:
        result = self.run(episode)
        self.metrics.update(episode, result, sum(self.weighted_terms(episode, result).values()))
        return result

    def on_validation_epoch_end(self) -> None:
        self.last_val_losses, self.last_val_errors = self.metrics.compute_and_log(self.log, self.trainer.strategy)

    # ------------------------------------------------------------------ optimisation
    def configure_optimizers(self) -> dict[str, Any]:
        hp = self.hparams
        total = hp.total_steps or (self.trainer.max_steps if self._trainer is not None else -1)
        if not total or total < 0:
            total = DEFAULT_TOTAL_STEPS
        return adamw_with_schedule(self.brain, self.weighting.parameters(), lr=hp.lr, weight_decay=hp.weight_decay,
                                   betas=hp.betas, lr_multipliers=hp.lr_multipliers, warmup_steps=hp.warmup_steps,
                                   total_steps=total, min_lr_ratio=hp.min_lr_ratio)
