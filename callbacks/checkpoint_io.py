"""`AtomicCheckpointIO` — Lightning writes, reads and deletes checkpoints through `penguin.checkpoints`.

    io = AtomicCheckpointIO()
    Trainer(plugins=[io], callbacks=[io, ModelCheckpoint(..., save_last=True)])

Every checkpoint Lightning saves (`ModelCheckpoint`, `trainer.save_checkpoint`) is written as
one transaction in its own folder — temp file, fsync, rename, commit marker `NAME.ckpt.sha256`
(the format and its guarantees are in `penguin/checkpoints.py`) — instead of Lightning's
`TorchCheckpointIO`, which stages the file in `$TMPDIR` and copies it over when that is another
filesystem (a kill mid-copy left a 0-byte `last.ckpt`; a small `$TMPDIR` failed every save).

It is a plugin (the I/O) and a callback: at `setup` it learns which `state_dict` entries are the
module's parameters, so that only those must be finite — buffers may hold NaN by design (the
loss-ratio weighting's "not seen yet" slots). Given only as a plugin, it checks every
floating-point entry.

What an operator sees:
- a save that fails (full disk, I/O error) stops training with one line naming the file and
  the reason; the previous checkpoint is untouched. `ModelCheckpoint` deletes an older file only
  after the new one is saved, so retention never removes the last good checkpoint;
- parameters holding a NaN or an infinity are never saved: the save fails naming the first one;
- resuming (`trainer.fit(ckpt_path=...)`) from a torn or corrupt file fails with one line
  naming it, before anything is restored; `penguin.checkpoints.newest_valid_checkpoint` picks
  the checkpoint to resume from instead;
- deleting a checkpoint deletes its marker.

Only rank 0 writes (Lightning's rule), so under DDP a failed save raises on rank 0 alone, as any
save error does in Lightning; the other ranks learn of it only when their next collective fails.
"""
from __future__ import annotations

from typing import Any

import lightning as L
from lightning.fabric.utilities.types import _PATH
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.plugins.io import CheckpointIO

from penguin import checkpoints


class AtomicCheckpointIO(CheckpointIO, Callback):
    def __init__(self) -> None:
        self.weights: frozenset[str] | None = None  # the parameters' state_dict names, once set up

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.weights = frozenset(name for name, _ in pl_module.named_parameters(remove_duplicate=False))

    def teardown(self, *_: Any, **__: Any) -> None:
        """Nothing to release; called both as a plugin (no arguments) and as a callback."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: _PATH, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError(f"cannot write {path}: AtomicCheckpointIO takes no storage_options; drop them")
        checkpoints.write_checkpoint(checkpoint, path, self.weights)

    def load_checkpoint(self, path: _PATH, map_location: Any | None = "cpu",
                        weights_only: bool | None = None) -> dict[str, Any]:
        return checkpoints.read_checkpoint(path, map_location=map_location, weights_only=weights_only)

    def remove_checkpoint(self, path: _PATH) -> None:
        checkpoints.remove_checkpoint(path)
