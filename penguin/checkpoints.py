"""Checkpoint files that cannot be lost: atomic writes, a commit marker, and the newest valid one.

**On disk**, a checkpoint `NAME.ckpt` is an ordinary `torch.save` file (anything that reads
checkpoints still reads it), and beside it is its commit marker `NAME.ckpt.sha256`, a small JSON
object that says which bytes the file may hold:

    {"format": "penguin-checkpoint-marker/1", "file": "last.ckpt",
     "accepted": [{"size": 52431, "sha256": "9f2c…", "step": 400},    # what the last save wrote
                  {"size": 52431, "sha256": "41ab…", "step": 200}]}   # what it replaced

A file is **valid** when its size and sha256 equal one `accepted` entry; that entry's `step` is
the file's training step. A torn file (a save killed mid-write, a full disk), a 0-byte file or
one with a flipped block anywhere is rejected. The older entries (at most two) cover a save
killed between its two renames, when the file still holds the bytes it had before.

**A save** (`write_checkpoint`) is a transaction in the checkpoint's own folder, never in
`$TMPDIR`, so every rename stays on one filesystem and is atomic:
  1. refuse model weights (parameters) holding a NaN or an infinity (nothing is written);
  2. delete the temp files that killed saves of other processes left in the folder;
  3. write the checkpoint to a temp file `.NAME.ckpt.<pid>-<id>.<n>.penguin-tmp`, hashing while
     writing, fsync it; write the new marker to a temp file the same way;
  4. rename the marker onto `NAME.ckpt.sha256`, fsync the folder; rename the checkpoint onto
     `NAME.ckpt`, fsync the folder.
Invariant: at every instant — a SIGKILL or a power loss at any point — `NAME.ckpt` holds either
its previous complete bytes or the new complete bytes, and its marker accepts both (step 4's
order ensures it). A failed save removes its temp files, leaves the previous checkpoint valid
(its bytes untouched, its marker accepting them) and raises `CheckpointSaveError`, one line
naming the path and the reason:

    CheckpointSaveError: cannot write runs/x/checkpoints/step8.ckpt: No space left on device (nothing was replaced; the previous checkpoint is intact)

**Reading** (`read_checkpoint`, `verify_checkpoint`, `newest_valid_checkpoint`) checks the marker;
an invalid file is an `InvalidCheckpointError` (a `ValueError`), one line naming the file, what is
wrong and the fix; `newest_valid_checkpoint` logs one such line per file it skips (logger
`penguin.checkpoints`, on stderr when logging is not configured). A checkpoint without a marker
(written before markers existed, or by another tool) is accepted only if `torch.load` reads it;
nothing more can be checked of it, so a flipped block inside such a file goes unnoticed.

Local filesystems only (paths, not URLs). One process writes a folder at a time — in DDP rank 0
does; a second process saving into the same folder would have its in-flight temp file removed by
the other's step 2, and that save fails loudly rather than leaving a torn file.
"""
from __future__ import annotations

import errno
import hashlib
import itertools
import json
import logging
import os
import re
import secrets
from pathlib import Path
from typing import Any, BinaryIO, Callable, Collection

import torch

log = logging.getLogger(__name__)

MARKER_SUFFIX = ".sha256"
MARKER_FORMAT = "penguin-checkpoint-marker/1"
TEMP_SUFFIX = ".penguin-tmp"
# The new bytes plus the two newest entries of the marker replaced: the file holds one of those
# unless two saves in a row were killed between their renames.
ACCEPTED_KEPT = 3
FIX = "use an older checkpoint of the run (newest_valid_checkpoint / --ckpt_path last picks the newest valid one)"

# Temp files are hidden (a leading dot) and end in TEMP_SUFFIX, so no `*.ckpt` glob sees them.
# The owner tag is pid + a random id drawn once per interpreter: a restarted run that gets the
# same pid (usual in containers) still tells its own temp files from a killed predecessor's.
_TEMP = re.compile(r"^\..+\.(?P<owner>\d+-[0-9a-f]{8})\.\d+" + re.escape(TEMP_SUFFIX) + "$")
_INTERPRETER_ID = secrets.token_hex(4)
_temp_counter = itertools.count()
_CHUNK = 1 << 20


class CheckpointSaveError(RuntimeError):
    """A save failed; the message is one line naming the path and the reason."""


class InvalidCheckpointError(ValueError):
    """A checkpoint file that must not be loaded; `reason` says why, without the path and fix."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"{path}: {reason}; {FIX}")
        self.path, self.reason = path, reason


def marker_path(path: str | Path) -> Path:
    """The commit marker of checkpoint `path`: `NAME.ckpt.sha256` beside it."""
    path = Path(path)
    return path.with_name(path.name + MARKER_SUFFIX)


def write_checkpoint(checkpoint: dict[str, Any], path: str | Path, weights: Collection[str] | None = None) -> None:
    """Save `checkpoint` to `path` atomically with its commit marker (the module docstring's
    transaction). Raises `CheckpointSaveError` — nothing at `path` changed — when a model weight
    holds a non-finite value or the disk refuses a write.

    `weights` names the entries of `checkpoint["state_dict"]` that must be finite: the model's
    parameters. Buffers are left out because some hold NaN by design (a loss-ratio weighting's
    "not seen yet" slots). None checks every floating-point entry."""
    if "://" in str(path):  # before Path(), which would fold "s3://" into "s3:/"
        raise CheckpointSaveError(f"cannot write {path}: atomic checkpoints need a local path; "
                                  "use Lightning's TorchCheckpointIO for remote storage")
    path = Path(path)
    bad = _first_non_finite(checkpoint.get("state_dict") or {}, weights)
    if bad is not None:
        entry = "model weight" if weights is not None else "state_dict entry"
        raise CheckpointSaveError(
            f"cannot write {path}: {entry} {bad!r} holds a non-finite value (NaN or inf); nothing was "
            "written and the previous checkpoint is intact — resume from it with a lower learning rate")
    folder, marker = path.parent, marker_path(path)
    step = checkpoint.get("global_step")
    temps = [_temp_path(path), _temp_path(marker)]
    replaced = False
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _remove_orphans(folder)
        size, digest = _write_temp(temps[0], lambda out: torch.save(checkpoint, out))
        entry = {"size": size, "sha256": digest, "step": int(step) if step is not None else None}
        accepted = [entry, *_accepted_or_empty(marker)][:ACCEPTED_KEPT]
        text = json.dumps({"format": MARKER_FORMAT, "file": path.name, "accepted": accepted}, indent=1)
        _write_temp(temps[1], lambda out: out.write(text.encode()))
        os.replace(temps[1], marker)  # now accepts both the old and the new bytes of `path`
        _fsync_folder(folder)  # the marker is durable before the checkpoint is renamed
        os.replace(temps[0], path)
        replaced = True
        _fsync_folder(folder)
    except OSError as e:
        outcome = ("the new checkpoint is in place but may not survive a power loss" if replaced
                   else "nothing was replaced; the previous checkpoint is intact")
        raise CheckpointSaveError(f"cannot write {path}: {e.strerror or e} ({outcome})") from None
    finally:
        for temp in temps:
            temp.unlink(missing_ok=True)


def verify_checkpoint(path: str | Path) -> int | None:
    """The training step of checkpoint `path` if it is valid (None where the file stores none);
    `InvalidCheckpointError` if it is not. Reads the whole file once (its sha256); a file without
    a marker is valid only if `torch.load` reads it (memory-mapped, so it is cheap)."""
    path = Path(path)
    with _open(path) as f:
        return _verify_open(f, path)


def read_checkpoint(path: str | Path, map_location: Any = "cpu", weights_only: bool | None = None) -> dict[str, Any]:
    """The checkpoint at `path`, loaded by `torch.load` after `verify_checkpoint`'s check (on the
    same open file, so a save renaming a new file over `path` meanwhile cannot slip past it)."""
    path = Path(path)
    with _open(path) as f:
        _verify_open(f, path)
        f.seek(0)
        return torch.load(f, map_location=map_location, weights_only=weights_only)


def remove_checkpoint(path: str | Path) -> None:
    """Delete checkpoint `path` and then its marker (a marker left alone by a kill in between is
    ignored: only `*.ckpt` files are checkpoints). A missing file is no error."""
    path = Path(path)
    path.unlink(missing_ok=True)
    marker_path(path).unlink(missing_ok=True)


def newest_valid_checkpoint(folder: str | Path) -> Path:
    """The valid `*.ckpt` of `folder` with the highest step (ties: the most recently written).

    Every checkpoint of the folder is verified (its whole file read once); each invalid one is
    skipped with a one-line warning naming it and why. `ValueError`, one line, when the folder
    holds no checkpoint or none is valid."""
    folder = Path(folder)
    files = sorted(folder.glob("*.ckpt")) if folder.is_dir() else []
    if not files:
        raise ValueError(f"{folder}: no checkpoint (*.ckpt) here; train first or give a checkpoint path")
    valid = []
    for path in files:
        try:
            step = verify_checkpoint(path)
        except InvalidCheckpointError as e:
            log.warning(f"skipping invalid checkpoint {path}: {e.reason}")
            continue
        valid.append(((-1 if step is None else step, path.stat().st_mtime_ns), path))
    if not valid:
        raise ValueError(f"{folder}: none of its {len(files)} checkpoints is valid (see the warnings above); "
                         "give a checkpoint path of another run or train anew")
    return max(valid)[1]


class _DigestingWriter:
    """The file object `torch.save` writes to: every byte goes to `fd` and into a sha256.

    torch.save reports a failed write as a RuntimeError without the OSError's errno and path, so
    the first OSError is kept and re-raised by `_write_temp`."""

    def __init__(self, fd: int):
        self.fd, self.size, self.sha256, self.error = fd, 0, hashlib.sha256(), None

    def write(self, data) -> int:
        if self.error is not None:  # torch's writer keeps writing its trailer after a failure
            raise self.error
        view = memoryview(data).cast("B")
        length = view.nbytes
        try:
            while view:
                written = os.write(self.fd, view)
                self.sha256.update(view[:written])
                self.size += written
                view = view[written:]
        except OSError as e:
            self.error = e
            raise
        return length

    def flush(self) -> None:
        """Nothing is buffered here: every write goes straight to the file."""


def _write_temp(temp: Path, produce: Callable[[_DigestingWriter], object]) -> tuple[int, str]:
    """Create `temp` (it must not exist), let `produce` write it, fsync; its size and sha256."""
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
    try:
        out = _DigestingWriter(fd)
        try:
            produce(out)
        except Exception:
            if out.error is not None:
                raise out.error from None
            raise
        os.fsync(fd)
        return out.size, out.sha256.hexdigest()
    finally:
        os.close(fd)


def _open(path: Path) -> BinaryIO:
    try:
        return open(path, "rb")
    except OSError as e:
        raise InvalidCheckpointError(path, f"cannot be read ({e.strerror or e})") from None


def _verify_open(f: BinaryIO, path: Path) -> int | None:
    marker, size = marker_path(path), os.fstat(f.fileno()).st_size
    try:
        text = marker.read_text()
    except FileNotFoundError:
        return _verify_unmarked(path, size)
    except OSError as e:
        raise InvalidCheckpointError(path, f"its commit marker {marker.name} cannot be read ({e.strerror or e})") from None
    accepted = _parse_accepted(text)
    if accepted is None:
        raise InvalidCheckpointError(path, f"its commit marker {marker.name} is not a {MARKER_FORMAT} file")
    if all(entry["size"] != size for entry in accepted):
        expected = " or ".join(str(entry["size"]) for entry in accepted)
        raise InvalidCheckpointError(path, f"torn: {size} bytes on disk, its commit marker says {expected} "
                                           "(the save was interrupted)")
    digest = hashlib.sha256()
    try:
        for block in iter(lambda: f.read(_CHUNK), b""):
            digest.update(block)
    except OSError as e:
        raise InvalidCheckpointError(path, f"cannot be read ({e.strerror or e})") from None
    for entry in accepted:
        if entry["size"] == size and entry["sha256"] == digest.hexdigest():
            return entry.get("step")
    raise InvalidCheckpointError(path, "corrupt: its sha256 differs from its commit marker (bytes changed on disk)")


def _verify_unmarked(path: Path, size: int) -> int | None:
    if size == 0:
        raise InvalidCheckpointError(path, "no commit marker, and it is empty (0 bytes)")
    try:
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
        except RuntimeError:  # not a zip archive: a pre-1.6 format file, or a torn one — load to tell
            checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # any failure to load is the verdict on a file nothing else vouches for
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        reason = lines[0].split(". ")[0] if lines else type(e).__name__
        raise InvalidCheckpointError(path, f"no commit marker, and torch.load fails ({reason})") from None
    step = checkpoint.get("global_step") if isinstance(checkpoint, dict) else None
    return int(step) if step is not None else None


def _parse_accepted(text: str) -> list[dict] | None:
    """The `accepted` entries of a marker's text, or None if it is not a well-formed marker."""
    try:
        marker = json.loads(text)
        accepted = marker["accepted"] if marker.get("format") == MARKER_FORMAT else None
        well_formed = bool(accepted) and all(isinstance(e["size"], int) and isinstance(e["sha256"], str)
                                             for e in accepted)
    except (ValueError, TypeError, KeyError, AttributeError):  # not JSON, or not a marker's shape
        return None
    return accepted if well_formed else None


def _accepted_or_empty(marker: Path) -> list[dict]:
    """The entries of the marker a save replaces (none when there is none or it is damaged)."""
    try:
        return _parse_accepted(marker.read_text()) or []
    except FileNotFoundError:
        return []


def _temp_path(final: Path) -> Path:
    return final.with_name(f".{final.name}.{os.getpid()}-{_INTERPRETER_ID}.{next(_temp_counter)}{TEMP_SUFFIX}")


def _remove_orphans(folder: Path) -> None:
    """Delete the temp files that other (killed) processes' saves left in `folder`."""
    own = f"{os.getpid()}-{_INTERPRETER_ID}"
    for entry in os.scandir(folder):
        match = _TEMP.match(entry.name)
        if match and match["owner"] != own:
            Path(entry.path).unlink(missing_ok=True)
            log.info(f"removed {entry.path}, left by an interrupted checkpoint save")


def _fsync_folder(folder: Path) -> None:
    """Make the folder's renames durable (filesystems that cannot fsync a folder are skipped)."""
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    except OSError as e:
        if e.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def _first_non_finite(state_dict: dict[str, Any], weights: Collection[str] | None) -> str | None:
    """The name of the first of `weights` (all entries if None) that is a floating-point tensor
    holding a NaN or an infinity, if any."""
    for name, value in state_dict.items():
        if weights is not None and name not in weights:
            continue
        if isinstance(value, torch.Tensor) and value.is_floating_point() and not value.is_meta:
            if not bool(torch.isfinite(value).all()):
                return name
    return None
