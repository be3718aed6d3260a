"""`SignalStop` — SIGTERM or Ctrl+C stops training after the step in flight, with a checkpoint.

    SignalStop()    # `python -m penguin.fit` adds it to every run

**What an operator sees.** `kill -TERM <pid>` (a scheduler's preemption or time limit; SLURM sends
it to every task of the job) or Ctrl+C (SIGINT) while training: the step in flight finishes, every
rank stops after that same step, `runs/NAME/checkpoints/last.ckpt` is written at it (the
checkpoint callback's train-end save, which holds everything an exact resume needs), and
`python -m penguin.fit` prints one line on stderr and exits with 128 + the signal's number, the
code a shell reports for a process that signal ended:

    stopped at step 412 by SIGTERM; resume with: python -m penguin.fit --config configs/small64.yaml --ckpt_path last

exit code 143 for SIGTERM, 130 for SIGINT (`EXIT_CODES`). The resumed run trains the same steps
with the same losses as one that was never stopped. A second Ctrl+C while the stop is under way
aborts at once (Lightning's KeyboardInterrupt path: exit 1, no new checkpoint; the previous
`last.ckpt` stays); more SIGTERMs change nothing. A scheduler's SIGKILL after its grace period
(SLURM's `KillWait`, 30 s by default) cannot be caught: the step in flight and the checkpoint
write must fit in it.

**The same step on every rank.** The handler only records the signal. At the end of every
optimizer step each rank contributes the signal it recorded (0 for none) to one max all-reduce of
a scalar (nothing to reduce in a single process), so a signal that reached one rank only (`kill`
of rank 0) or reached the ranks at different moments stops them all after the same step: no rank
is left waiting in a collective that another has abandoned. SIGTERM wins over SIGINT when both came.

**No extra validation.** Lightning validates when a stop is requested; an uninterrupted run would
not validate at that step, and the validation would feed the task sampler and write a step
checkpoint, so the resumed run would differ from it. The stop therefore skips that validation,
unless the step is a validation step anyway (then it runs, as it would have).

**When.** The handlers are installed when training starts — after Lightning's signal connector
has registered its own SIGTERM handler, which this one replaces for the fit (Lightning's stops
without a checkpoint and broadcasts from inside the handler) — and the handlers from before the
fit are put back at its end, also when it fails. A signal before training starts (while the model
and data are built) keeps its default effect; one after the last step changes nothing (the run is
complete). A signal during a validation stops after the next step. `trainer.min_steps` defers the
stop until it is reached (Lightning's rule). Handlers can be installed only from the main thread;
elsewhere this callback does nothing. SIGUSR1 (SLURM's auto-requeue signal) is left to Lightning.
"""
from __future__ import annotations

import signal
import threading
from typing import Any

import lightning as L
import torch
import torch.distributed as dist
from lightning.pytorch.callbacks import Callback

SIGNALS = (signal.SIGTERM, signal.SIGINT)
EXIT_CODES = {signal.SIGTERM: 128 + signal.SIGTERM, signal.SIGINT: 128 + signal.SIGINT}  # 143, 130


class SignalStop(Callback):
    def __init__(self) -> None:
        self.received: int = 0  # the signal this process got, 0 for none
        self.stopped_by: signal.Signals | None = None  # the signal training stopped for, on every rank
        self.stopped_at: int | None = None  # the global step it stopped after
        self._before: dict[int, Any] = {}  # the handlers from before the fit

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.received, self.stopped_by, self.stopped_at = 0, None, None
        if stage == "fit" and threading.current_thread() is threading.main_thread():
            self._before = {s: signal.getsignal(s) for s in SIGNALS}  # before Lightning registers its own

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._before:
            for s in SIGNALS:
                signal.signal(s, self._record)

    def _record(self, signum: int, frame: Any) -> None:
        if signum == signal.SIGINT and self.received:
            raise KeyboardInterrupt  # a second Ctrl+C: abort now
        self.received = max(self.received, signum)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if (batch_idx + 1) % trainer.accumulate_grad_batches:
            return  # not a step boundary: gradients are still accumulating (the same on every rank)
        signum = self.received
        if trainer.world_size > 1 and dist.is_available() and dist.is_initialized():
            flag = torch.tensor(signum, device=trainer.strategy.root_device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            signum = int(flag.item())
        done = trainer.max_steps != -1 and trainer.global_step >= trainer.max_steps
        if not signum or done or self.stopped_by is not None or not trainer.fit_loop._can_stop_early:
            return
        loop = trainer.fit_loop.epoch_loop
        if not loop._should_check_val_fx(trainer.fit_loop._data_fetcher):  # asked before should_stop is set
            loop._skip_next_val = True
        trainer.should_stop = True
        self.stopped_by, self.stopped_at = signal.Signals(signum), trainer.global_step

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self._restore()

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._restore()

    def _restore(self) -> None:
        for s, handler in self._before.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)
        self._before = {}


def stop_requested(trainer: L.Trainer) -> bool:
    """Whether this process is stopping the run: a signal `SignalStop` recorded, Lightning's own
    SIGTERM flag, or `trainer.should_stop` — for callbacks that wait (the temperature throttle) and
    must not delay a stop."""
    return bool(trainer.received_sigterm or trainer.should_stop
                or any(isinstance(cb, SignalStop) and cb.received for cb in trainer.callbacks))
