"""Checkpoints that cannot be lost (`penguin/checkpoints.py`, `callbacks/checkpoint_io.py`):
SIGKILLs at random points of saving, torn / corrupt / unmarked / empty files, a full disk,
non-finite weights, and a real Lightning `Trainer` saving, retaining and resuming through the
plugin. With `write_checkpoint` swapped for Lightning's `TorchCheckpointIO`, every test fails
except the two on files written without a marker, which test the reader's rule for them."""
import errno
import json
import logging
import os
import random
import select
import shutil
import signal
import tempfile
import time
import traceback
import uuid
from pathlib import Path

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint

from assertions import one_line_error
from callbacks.checkpoint_io import AtomicCheckpointIO
from penguin import checkpoints
from penguin.checkpoints import (CheckpointSaveError, InvalidCheckpointError, marker_path, newest_valid_checkpoint,
                                 read_checkpoint, verify_checkpoint, write_checkpoint)


def state(step: int, elements: int) -> dict:
    """The checkpoint a run writes at `step`: distinct per step, recomputable by the parent."""
    return {"state_dict": {"encoder.weight": torch.arange(elements // 2, dtype=torch.float32) + step,
                           "decoder.weight": torch.full((elements - elements // 2,), float(step))},
            "global_step": step}


def assert_is_state(checkpoint: dict, elements: int) -> int:
    """`checkpoint` is exactly one of the states written; returns its step."""
    step = checkpoint["global_step"]
    expected = state(step, elements)["state_dict"]
    assert checkpoint["state_dict"].keys() == expected.keys()
    for name, tensor in expected.items():
        assert torch.equal(checkpoint["state_dict"][name], tensor), f"step {step}: {name} differs"
    return step


def temp_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name.endswith(checkpoints.TEMP_SUFFIX))


def one_line(error: BaseException, *parts: str) -> str:
    """`error`'s message is one line containing every string of `parts`."""
    message = str(error)
    assert "\n" not in message and message
    for part in parts:
        assert part in message, (part, message)
    return message


# ---------------------------------------------------------------- SIGKILL at random points of saving

def _saver(folder: Path, first_step: int, elements: int, report: int) -> None:
    """A forked child: saves like ModelCheckpoint(save_last=True, save_top_k=1) does at every
    validation — `stepN.ckpt`, delete the older one, `last.ckpt` — until it is killed, writing
    each completed step to the `report` pipe."""
    torch.set_num_threads(1)  # no OpenMP pool in a forked child
    tempfile.tempdir = None  # read $TMPDIR afresh, as a new process would
    io = AtomicCheckpointIO()
    for step in range(first_step, first_step + 10_000):
        io.save_checkpoint(state(step, elements), folder / f"step{step}.ckpt")
        for older in folder.glob("step*.ckpt"):
            if older.name != f"step{step}.ckpt":
                io.remove_checkpoint(older)
        io.save_checkpoint(state(step, elements), folder / "last.ckpt")
        os.write(report, f"{step}\n".encode())


def _fork_saver(folder: Path, first_step: int, elements: int) -> tuple[int, int]:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child never returns into pytest
        code = 0
        try:
            os.close(read_end)
            _saver(folder, first_step, elements, write_end)
        except BaseException:
            traceback.print_exc()
            code = 1
        finally:
            os._exit(code)
    os.close(write_end)
    return pid, read_end


def _reported(read_end: int) -> list[int]:
    data = b""
    while select.select([read_end], [], [], 0)[0] and (chunk := os.read(read_end, 4096)):
        data += chunk
    os.close(read_end)
    return [int(s) for s in data.split()]


def _kill_loop(folder: Path, kills: int, elements: int, seed: int) -> dict:
    """Fork a saver, SIGKILL it after a random delay, check the folder; `kills` times, each child
    continuing from the last step reported saved. Three kills in four come within one save
    cycle (inside a save, mostly), the fourth after two or three (the loop makes progress)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True)
    write_checkpoint(state(0, elements), folder / "last.ckpt")
    pid, read_end = _fork_saver(folder, 1, elements)  # calibrate: a child's save cycle, now
    time.sleep(2.0)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    steps = _reported(read_end)
    cycle = 2.0 / max(len(steps), 1)
    completed = max([0, *steps])
    mid_save = 0
    for kill in range(kills):
        pid, read_end = _fork_saver(folder, completed + 1, elements)
        time.sleep(rng.uniform(2.0, 3.0) * cycle if kill % 4 == 3 else rng.uniform(0.0, 1.0) * cycle)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        steps = _reported(read_end)
        completed = max([completed, *steps])

        orphans = temp_files(folder)
        mid_save += bool(orphans)
        if steps:  # this child saved, so its sweep removed every earlier child's temp files
            assert all(f".{pid}-" in p.name for p in orphans), (kill, orphans)
        for path in folder.glob("*.ckpt"):  # no torn file passes validation
            try:
                step = verify_checkpoint(path)
            except InvalidCheckpointError as e:
                one_line(e, str(path))
                continue
            assert assert_is_state(read_checkpoint(path), elements) == step
        newest = newest_valid_checkpoint(folder)  # a save reported complete is never lost
        assert assert_is_state(read_checkpoint(newest), elements) >= completed
    write_checkpoint(state(completed + 1, elements), folder / "last.ckpt")  # sweeps the last child's temp files
    assert temp_files(folder) == []
    assert assert_is_state(read_checkpoint(newest_valid_checkpoint(folder)), elements) == completed + 1
    return {"completed": completed, "mid_save": mid_save, "cycle_s": round(cycle, 3)}


def _sigkill_test(tmp_path, monkeypatch, tmpdir_place: str, kills: int, elements: int) -> None:
    if tmpdir_place == "same filesystem":
        tmpdir = tmp_path / "tmp"
    else:
        if not Path("/dev/shm").is_dir():
            pytest.skip("/dev/shm is absent: no second filesystem to put $TMPDIR on")
        tmpdir = Path("/dev/shm") / f"penguin-test-{uuid.uuid4().hex}"
    tmpdir.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmpdir))  # inherited by every child, as an operator's shell sets it
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # an OpenMP pool spinning on two shared cores would slow every check
    try:
        result = _kill_loop(tmp_path / "checkpoints", kills, elements, seed=kills + len(tmpdir_place))
        assert list(tmpdir.iterdir()) == []  # nothing is ever staged in $TMPDIR
    finally:
        torch.set_num_threads(threads)
        if tmpdir_place == "other filesystem":
            shutil.rmtree(tmpdir, ignore_errors=True)
    assert result["completed"] >= 4, result  # the loop did save, many times
    assert result["mid_save"] >= kills // 4, result  # and many kills landed inside a save


@pytest.mark.parametrize("tmpdir_place", ["same filesystem", "other filesystem"])
def test_sigkill_at_random_points_never_loses_a_checkpoint(tmp_path, monkeypatch, tmpdir_place):
    """20 SIGKILLs at random points of a save loop of 4 MB states, with `$TMPDIR` on the
    checkpoints' filesystem or on another (/dev/shm). After each kill: every file that validates
    holds exactly a state that was written, the newest valid one is at least the last step
    reported saved, and earlier children's temp files are gone; `$TMPDIR` is never written to."""
    _sigkill_test(tmp_path, monkeypatch, tmpdir_place, kills=20, elements=1_000_000)


@pytest.mark.slow
@pytest.mark.parametrize("tmpdir_place", ["same filesystem", "other filesystem"])
def test_sigkill_loop_with_large_states(tmp_path, monkeypatch, tmpdir_place):
    """The same with 32 MB states and 60 kills."""
    _sigkill_test(tmp_path, monkeypatch, tmpdir_place, kills=60, elements=8_000_000)


# ---------------------------------------------------------------- torn, corrupt, unmarked, empty

def _truncate(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def _flip_block(path: Path) -> None:
    data = bytearray(path.read_bytes())
    inside = len(data) // 4  # inside the first weight's bytes, where torch.load checks nothing
    data[inside:inside + 4096] = bytes(b ^ 0xFF for b in data[inside:inside + 4096])
    path.write_bytes(bytes(data))


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _drop_marker_of_torn(path: Path) -> None:
    _truncate(path)
    marker_path(path).unlink()


DAMAGE = {"truncated": (_truncate, "torn"), "flipped block": (_flip_block, "corrupt"),
          "0 bytes": (_empty, "torn: 0 bytes"), "torn without a marker": (_drop_marker_of_torn, "no commit marker")}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_last_ckpt_is_invalid_and_the_older_valid_one_is_picked(tmp_path, damage, caplog):
    elements = 200_000
    write_checkpoint(state(4, elements), tmp_path / "step4.ckpt")
    write_checkpoint(state(8, elements), tmp_path / "last.ckpt")
    damage_fn, reason = DAMAGE[damage]
    damage_fn(tmp_path / "last.ckpt")
    if damage == "flipped block":  # torch.load alone does not notice
        assert torch.load(tmp_path / "last.ckpt", weights_only=False)["global_step"] == 8
    with pytest.raises(InvalidCheckpointError) as info:
        verify_checkpoint(tmp_path / "last.ckpt")
    one_line(info.value, str(tmp_path / "last.ckpt"), reason, "older checkpoint")
    with pytest.raises(InvalidCheckpointError):
        AtomicCheckpointIO().load_checkpoint(tmp_path / "last.ckpt")
    with caplog.at_level(logging.WARNING, logger="penguin.checkpoints"):
        assert newest_valid_checkpoint(tmp_path) == tmp_path / "step4.ckpt"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "\n" not in warnings[0] and str(tmp_path / "last.ckpt") in warnings[0]
    assert_is_state(read_checkpoint(tmp_path / "step4.ckpt"), elements)


def test_a_checkpoint_without_a_marker_is_accepted_only_if_it_loads(tmp_path):
    torch.save(state(3, 1000), tmp_path / "old.ckpt")  # written before markers existed
    assert verify_checkpoint(tmp_path / "old.ckpt") == 3
    assert_is_state(read_checkpoint(tmp_path / "old.ckpt"), 1000)
    assert newest_valid_checkpoint(tmp_path) == tmp_path / "old.ckpt"
    write_checkpoint(state(5, 1000), tmp_path / "new.ckpt")
    assert newest_valid_checkpoint(tmp_path) == tmp_path / "new.ckpt"  # by step, not by name
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(InvalidCheckpointError) as info:
        verify_checkpoint(tmp_path / "junk.ckpt")
    one_line(info.value, str(tmp_path / "junk.ckpt"), "no commit marker, and torch.load fails")


def test_no_valid_checkpoint_is_a_one_line_error(tmp_path):
    one_line_error(lambda: newest_valid_checkpoint(tmp_path / "missing"), str(tmp_path / "missing"), "no checkpoint")
    write_checkpoint(state(1, 1000), tmp_path / "last.ckpt")
    _truncate(tmp_path / "last.ckpt")
    (tmp_path / "step0.ckpt").write_bytes(b"")
    one_line_error(lambda: newest_valid_checkpoint(tmp_path), str(tmp_path), "none of its 2 checkpoints is valid")


def test_a_save_killed_between_its_two_renames_leaves_the_old_file_valid(tmp_path, monkeypatch):
    """The marker is renamed first and accepts the old bytes too, so the instant between the
    renames never has a complete file that fails validation."""
    path = tmp_path / "last.ckpt"
    write_checkpoint(state(1, 1000), path)
    real_replace, calls = os.replace, []

    def replace_then_die(src, dst):
        calls.append(dst)
        if Path(dst) == path:
            raise KeyboardInterrupt  # stands in for the kill: the marker is renamed, the file is not
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace_then_die)
    with pytest.raises(KeyboardInterrupt):
        write_checkpoint(state(2, 1000), path)
    monkeypatch.setattr(os, "replace", real_replace)
    assert [Path(c) for c in calls] == [marker_path(path), path]
    assert len(json.loads(marker_path(path).read_text())["accepted"]) == 2
    assert verify_checkpoint(path) == 1
    assert_is_state(read_checkpoint(path), 1000)
    write_checkpoint(state(3, 1000), path)
    assert verify_checkpoint(path) == 3 and temp_files(tmp_path) == []


def test_remove_checkpoint_removes_its_marker(tmp_path):
    write_checkpoint(state(1, 1000), tmp_path / "step1.ckpt")
    assert marker_path(tmp_path / "step1.ckpt").is_file()
    AtomicCheckpointIO().remove_checkpoint(tmp_path / "step1.ckpt")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- full disk, non-finite weights

def _fail_os_write_after(monkeypatch, limit: int) -> None:
    real_write, written = os.write, [0]

    def write(fd, data):
        if written[0] + len(data) > limit:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        written[0] += len(data)
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)


def _fail_fsync(monkeypatch, limit: int) -> None:
    real_fsync, calls = os.fsync, [0]

    def fsync(fd):
        calls[0] += 1
        if calls[0] > limit:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)


FULL_DISK = {"mid checkpoint write": lambda mp, size: _fail_os_write_after(mp, size // 3),
             "checkpoint fsync": lambda mp, size: _fail_fsync(mp, 0),
             "marker write": lambda mp, size: _fail_os_write_after(mp, size + 10),
             "marker fsync": lambda mp, size: _fail_fsync(mp, 1)}


@pytest.mark.parametrize("where", FULL_DISK)
def test_a_full_disk_keeps_the_previous_checkpoint(tmp_path, monkeypatch, where):
    path = tmp_path / "step8.ckpt"
    write_checkpoint(state(4, 100_000), path)
    before = marker_path(path).read_bytes()
    FULL_DISK[where](monkeypatch, path.stat().st_size)
    with pytest.raises(CheckpointSaveError) as info:
        AtomicCheckpointIO().save_checkpoint(state(8, 100_000), path)
    monkeypatch.undo()
    one_line(info.value, f"cannot write {path}: No space left on device", "previous checkpoint is intact")
    assert temp_files(tmp_path) == []
    assert marker_path(path).read_bytes() == before
    assert verify_checkpoint(path) == 4
    assert_is_state(read_checkpoint(path), 100_000)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights_are_never_written(tmp_path, bad):
    path = tmp_path / "last.ckpt"
    write_checkpoint(state(4, 1000), path)
    broken = state(8, 1000)
    broken["state_dict"]["decoder.weight"][17] = bad
    with pytest.raises(CheckpointSaveError) as info:
        AtomicCheckpointIO().save_checkpoint(broken, path)
    one_line(info.value, str(path), "'decoder.weight'", "non-finite")
    with pytest.raises(CheckpointSaveError):  # a parameter: refused
        write_checkpoint(broken, path, weights={"encoder.weight", "decoder.weight"})
    write_checkpoint(broken, tmp_path / "buffer.ckpt", weights={"encoder.weight"})  # a buffer: saved
    assert verify_checkpoint(path) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["buffer.ckpt", "buffer.ckpt.sha256", "last.ckpt",
                                                          "last.ckpt.sha256"]


# ---------------------------------------------------------------- a real Trainer

class Tiny(L.LightningModule):
    """A linear layer and a buffer holding NaN by design, as the loss-ratio weighting's are."""

    def __init__(self, poison_at_step: int | None = None):
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)
        self.register_buffer("not_seen_yet", torch.tensor(float("nan")))
        self.poison_at_step = poison_at_step

    def training_step(self, batch, batch_idx):
        if self.global_step == self.poison_at_step:
            with torch.no_grad():
                self.layer.weight[0, 2] = float("nan")
        return torch.nn.functional.mse_loss(self.layer(batch[0]), batch[1])

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)

    def train_dataloader(self):
        data = torch.utils.data.TensorDataset(torch.randn(64, 4), torch.randn(64, 1))
        return torch.utils.data.DataLoader(data, batch_size=4)


class FirstStep(Callback):
    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.__dict__.setdefault("step", trainer.global_step)


def _trainer(folder: Path, max_steps: int, *callbacks) -> L.Trainer:
    keep = ModelCheckpoint(dirpath=folder, filename="step{step}", auto_insert_metric_name=False,
                           every_n_train_steps=2, save_last=True, save_top_k=1)
    io = AtomicCheckpointIO()
    return L.Trainer(plugins=[io], callbacks=[io, keep, *callbacks], max_steps=max_steps,
                     accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_trainer_saves_retains_and_resumes_through_the_plugin(tmp_path):
    folder = tmp_path / "checkpoints"
    _trainer(folder, 4).fit(Tiny())
    assert sorted(p.name for p in folder.iterdir()) == ["last.ckpt", "last.ckpt.sha256", "step4.ckpt",
                                                        "step4.ckpt.sha256"]  # step2's marker left with it
    assert verify_checkpoint(folder / "last.ckpt") == 4 and verify_checkpoint(folder / "step4.ckpt") == 4
    assert read_checkpoint(folder / "last.ckpt")["state_dict"]["not_seen_yet"].isnan()  # buffers may hold NaN

    first = FirstStep()
    resumed = _trainer(folder, 6, first)
    resumed.fit(Tiny(), ckpt_path=newest_valid_checkpoint(folder))
    assert first.step == 4 and resumed.global_step == 6
    assert verify_checkpoint(folder / "last.ckpt") == 6

    _flip_block(folder / "last.ckpt")
    with pytest.raises(InvalidCheckpointError) as info:
        _trainer(folder, 8).fit(Tiny(), ckpt_path=folder / "last.ckpt")
    one_line(info.value, str(folder / "last.ckpt"), "corrupt")


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_trainer_with_nan_weights_stops_and_keeps_the_good_checkpoint(tmp_path):
    folder = tmp_path / "checkpoints"
    with pytest.raises(CheckpointSaveError) as info:
        _trainer(folder, 8).fit(Tiny(poison_at_step=3))
    one_line(info.value, str(folder / "step4.ckpt"), "'layer.weight'")
    assert sorted(p.name for p in folder.glob("*.ckpt")) == ["last.ckpt", "step2.ckpt"]
    assert newest_valid_checkpoint(folder) in (folder / "last.ckpt", folder / "step2.ckpt")
    assert verify_checkpoint(folder / "step2.ckpt") == 2 and verify_checkpoint(folder / "last.ckpt") == 2
