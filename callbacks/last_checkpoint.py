"""`LastCheckpoint` — `last.ckpt`, the newest `stepN.ckpt` and the best ones, with `best.json`.

    LastCheckpoint(dirpath="runs/NAME/checkpoints", filename="step{step}",
                   auto_insert_metric_name=False, save_last=True, save_top_k=1,
                   best_tolerance=0.1)

**What is on disk** in `runs/NAME/checkpoints`, at any time: `last.ckpt`, the newest `stepN.ckpt`,
every `stepN.ckpt` that `best.json` names (the best per task and the overall best, the rule in
`callbacks/best_checkpoint.py`), and `best.json`. Nothing else this callback wrote: a step file
that holds no title any more is deleted. A file holding several titles is stored once (the
seed-size brain is ~1 GB); the manifest points several titles at it.

**When.** At the end of every validation during fit, `stepN.ckpt` is written, then `last.ckpt`
(Lightning's `save_last`). Lightning's own train-end save fires only if nothing was ever saved, so
a run whose `max_steps` is not a multiple of `val_check_interval`, or one stopped by `max_time`,
would lose every step after its last validation; this class also writes `last.ckpt` when training
ends, whenever the newest checkpoint is older than the trainer's step. `last.ckpt` holds everything
a resume needs — weights, optimizer, schedule, the data stream's position, the task sampler's and
the best selection's state — so resuming from it continues exactly, as
`tests/test_fit.py::test_resume_continues_exactly` checks on a run that stopped between two
validations.

**One validation's save is a transaction**, in this order:

1. the selection judges the validation's `val/<task>/loss` values, naming the new file (before the
   write, because the selection's state is part of the file, as Lightning's own paths are);
2. `stepN.ckpt` is written (a failure restores the selection's previous state and raises);
3. `best.json` is rewritten atomically — so it names only files that are on disk;
4. `last.ckpt` is written;
5. only then are files retired: the previous newest file and the files that lost their last title,
   unless the manifest names them or the run resumed from them (Lightning's rule). A crash at any
   point leaves every file that `best.json` or `last.ckpt` names on disk; files due for deletion
   when it struck are deleted after the resumed run's first validation, whether it resumes from
   `last.ckpt` or from the newest `stepN.ckpt` (both carry the list).

Losses are taken only from a validation that ended at this very step (a save at an epoch end
without a validation, `save_on_train_epoch_end=True`, judges nothing: stale metrics must not be
credited to newer weights). Every rank takes rank 0's losses, so every rank holds the same
decisions; rank 0 writes the files.

**Files left alone.** A `-vN` file (Lightning's name when `stepN.ckpt` already exists, e.g. in a
run resumed from an older `stepN.ckpt`) is treated like any other: kept while it holds a title,
then deleted. A run resumed from a checkpoint older than `best.json` continues that checkpoint's
decisions: the files the abandoned later stretch had named are not deleted, only no longer named,
and a title whose file that stretch deleted resolves to "missing" until a later validation takes
it; one warning at the resume names both. A checkpoint written to another folder (a moved run)
starts the selection afresh, with a warning, as Lightning does for its own state: its file names
would point at files this folder lacks. With `save_top_k=-1` (keep every step file) nothing is
retired. `monitor` is refused (the bests per task replace a single monitored metric), and so are
`every_n_train_steps` and `train_time_interval`: a step file is written where a validation is
judged (choose when with `trainer.val_check_interval`).
"""
from __future__ import annotations

import logging
import os
import re
from typing import Any

import lightning as L
from lightning.fabric.utilities.cloud_io import _is_local_file_protocol
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor

from callbacks.best_checkpoint import MANIFEST, BestSelection, read_manifest, write_manifest

log = logging.getLogger(__name__)

TASK_LOSS = re.compile(r"val/([^/]+)/loss")


class LastCheckpoint(ModelCheckpoint):
    def __init__(self, *, best_tolerance: float = 0.1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if self.monitor is not None:
            raise ValueError(f"LastCheckpoint(monitor={self.monitor!r}): it keeps the best per task and overall "
                             "itself (best.json); drop monitor")
        if self._every_n_train_steps or self._train_time_interval is not None:
            raise ValueError("LastCheckpoint saves at the end of every validation, where the bests are judged; "
                             "drop every_n_train_steps / train_time_interval and set trainer.val_check_interval")
        self.best = BestSelection(best_tolerance)
        self._validated_step: int | None = None  # the global step the latest fit validation ended at
        self._retiring: list[str] = []  # step files no title and no resume point needs, deleted after last.ckpt

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        if not _is_local_file_protocol(self.dirpath):
            raise ValueError(f"LastCheckpoint(dirpath={self.dirpath!r}): best.json is written atomically on a "
                             "local folder; give a local dirpath")

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.state.fn == TrainerFn.FITTING and not trainer.sanity_checking:
            self._validated_step = trainer.global_step
        super().on_validation_end(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Lightning's own skip rule: not under fast_dev_run or outside fit, and not when this
        # step is already saved (the run ended on a validation, or took no step at all).
        if self.save_last and not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
            self._last_global_step_saved = trainer.global_step

    def _save_none_monitor_checkpoint(self, trainer: L.Trainer, monitor_candidates: dict[str, Tensor]) -> None:
        # Lightning's version of this method (its `best_model_path` is the newest step file when
        # nothing is monitored), with the transaction of the module docstring around the write.
        filepath = self._get_metric_interpolated_filepath_name(monitor_candidates, trainer, self.best_model_path)
        previous, self.best_model_path = self.best_model_path, filepath
        named_before, state_before, retiring_before = self.best.files(), self.best.state_dict(), self._retiring
        self.best.observe(trainer.global_step, os.path.basename(filepath), self._task_losses(trainer, monitor_candidates))
        if self.save_top_k == 1:  # -1 keeps every step file
            retired = {os.path.join(self.dirpath, f) for f in named_before - self.best.files()}
            self._retiring = sorted(set(self._retiring) | retired | ({previous} if previous else set()))
        try:
            self._save_checkpoint(trainer, filepath)
        except BaseException:
            self.best.load_state_dict(state_before)
            self._retiring = retiring_before
            raise
        if self.best.files() and trainer.is_global_zero:
            write_manifest(self.dirpath, self.best.manifest())
            log.info("best checkpoints at step %d: %s", trainer.global_step, self.best.latest["verdict"])
        if not self.save_last:
            self._retire(trainer)

    def _save_last_checkpoint(self, trainer: L.Trainer, monitor_candidates: dict[str, Tensor]) -> None:
        super()._save_last_checkpoint(trainer, monitor_candidates)
        self._retire(trainer)  # only now: last.ckpt, the resume point, no longer names them either

    def _retire(self, trainer: L.Trainer) -> None:
        for old in self._retiring:
            if self._should_remove_checkpoint(trainer, old, self.best_model_path):
                self._remove_checkpoint(trainer, old)
        self._retiring = []

    def _task_losses(self, trainer: L.Trainer, monitor_candidates: dict[str, Tensor]) -> dict[str, float]:
        if self._validated_step != trainer.global_step:
            return {}
        losses = {m.group(1): float(value) for name, value in monitor_candidates.items()
                  if (m := TASK_LOSS.fullmatch(name))}
        return trainer.strategy.broadcast(losses)

    def _remove_checkpoint(self, trainer: L.Trainer, filepath: str) -> None:
        # Invariant: a file best.json names is never deleted, whichever Lightning path asks.
        in_folder = os.path.dirname(os.path.abspath(filepath)) == os.path.abspath(self.dirpath)
        if in_folder and os.path.basename(filepath) in self.best.files():
            return
        super()._remove_checkpoint(trainer, filepath)

    def state_dict(self) -> dict[str, Any]:
        # `retiring` is in the step file and last.ckpt (both written before they are deleted), so
        # after a crash in between, the resumed run deletes them instead of leaving them unnamed.
        return {**super().state_dict(), "best": self.best.state_dict(), "retiring": list(self._retiring)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        if "best" not in state_dict:
            return  # a checkpoint written before best.json existed: the selection starts now
        if state_dict.get("dirpath", self.dirpath) != self.dirpath:
            # The file names would point into another folder: as Lightning does for its own
            # state, start afresh rather than name files this folder does not hold.
            rank_zero_warn(f"best checkpoints start afresh: the checkpoint was written to {state_dict.get('dirpath')}, "
                           f"this run writes to {self.dirpath}")
            return
        self.best.load_state_dict(state_dict["best"])
        self._retiring = list(state_dict.get("retiring", []))
        self._check_resumed_files()

    def _check_resumed_files(self) -> None:
        """After a resume from a checkpoint older than best.json (a `stepN.ckpt`, not last.ckpt), say
        which files the manifest on disk named that the resumed state does not (they stay,
        unnamed), and which titles name a file the later stretch deleted (resolving them fails
        until the title moves on)."""
        def exists(file: str) -> bool:
            return os.path.isfile(os.path.join(self.dirpath, file))

        gone = sorted(f for f in self.best.files() if not exists(f))
        if gone:
            rank_zero_warn(f"best checkpoints: the resumed state names {', '.join(gone)}, no longer in {self.dirpath}; "
                           "their titles resolve to 'missing' until a later validation takes them")
        path = os.path.join(self.dirpath, MANIFEST)
        if not os.path.isfile(path):
            return
        try:
            on_disk = read_manifest(path)
        except ValueError as e:
            rank_zero_warn(f"{e}; the next validation replaces it")
            return
        entries = [on_disk["overall"], *on_disk["tasks"].values()]
        abandoned = sorted(f for f in {e["file"] for e in entries if e} - self.best.files() if exists(f))
        if abandoned:
            rank_zero_warn(f"best.json names {', '.join(abandoned)} from after the checkpoint this run resumed from; "
                           f"they stay in {self.dirpath}, no longer named (delete them by hand if not needed)")
