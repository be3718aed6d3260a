"""SIGTERM and Ctrl+C during `python -m penguin.fit` (`callbacks/signal_stop.py`): the run stops
after a step, writes `last.ckpt` at it, exits 143 / 130 with the line that says how to resume, and
the resume trains exactly what an uninterrupted run trains — in one process and over two gloo
ranks (there from the default config, no `configs/ddp.yaml`: more than one device picks a DDP that
tolerates unused parameters). Subprocesses with hard timeouts, since a stop that strands a rank
hangs. The test learns that training is under way from a marker callback it adds on the command
line, which writes each rank's global step after every step."""
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from callbacks.signal_stop import SignalStop
from process_group import run_group

MARKER = '''
import os
from lightning.pytorch.callbacks import Callback


class StepMarker(Callback):
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        path = f"{os.environ['STEP_MARKER']}.{trainer.global_rank}"
        with open(path + ".tmp", "w") as f:
            f.write(str(trainer.global_step))
        os.replace(path + ".tmp", path)
'''
BASE = ["--model.preset", "tiny64", "--data.batch_size", "4", "--data.val_batches", "1",
        "--trainer.accelerator", "cpu", "--trainer.enable_progress_bar", "false",
        "--trainer.enable_model_summary", "false", "--trainer.log_every_n_steps", "1",
        "--data.tasks", "[side_qa, near_gold_qa, arrow]", "--trainer.val_check_interval", "4",
        "--model.total_steps", "1000"]  # one schedule for every max_steps below
LINE = re.compile(r"stopped at step (\d+) by (SIGTERM|SIGINT); resume with: (.+)")


def _env(root: Path) -> dict[str, str]:
    (root / "step_marker.py").write_text(MARKER)
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), *sys.path]), "STEP_MARKER": str(root / "step")}


def _start(root: Path, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "penguin.fit", *BASE, "--trainer.default_root_dir", str(root),
               "--trainer.callbacks+=step_marker.StepMarker", *extra]
    return subprocess.Popen(command, cwd=root, env=_env(root), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)  # the ranks it launches are its children: kill the group


def _run(root: Path, args: list[str]) -> None:
    """`python -m penguin.fit ARGS` to the end, in a process like the stopped run's (one pytest
    process may hold other thread settings, and floating-point sums follow them)."""
    done = run_group([sys.executable, "-m", "penguin.fit", *args], timeout=600, cwd=root, env=_env(root),
                     hang=f"penguin.fit {shlex.join(args)} did not finish in 600 s")
    assert done.returncode == 0, done.stderr[-3000:]


def _step(root: Path, rank: int) -> int:
    path = root / f"step.{rank}"
    return int(path.read_text()) if path.is_file() else -1


def _signal_when_training(process: subprocess.Popen, root: Path, ranks: int, signum: int, group: bool = False,
                          at_least: int = 2) -> tuple[int, str]:
    """Wait until every rank has taken `at_least` steps, send `signum` to rank 0 (or to every process
    of the run, as SLURM does), return the exit code and stderr."""
    deadline = time.monotonic() + 600
    try:
        while min(_step(root, r) for r in range(ranks)) < at_least:
            assert process.poll() is None, f"the run ended before the signal: {process.communicate()[1][-3000:]}"
            assert time.monotonic() < deadline, "no training step within 600 s"
            time.sleep(0.2)
        (os.killpg if group else os.kill)(process.pid, signum)
        _, stderr = process.communicate(timeout=300)
    except BaseException:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    return process.returncode, stderr


def _losses(run: Path) -> dict[int, float]:
    out = {}
    for events in sorted(run.glob("version_*/events.out.tfevents.*")):
        acc = EventAccumulator(str(events), size_guidance={"scalars": 0})
        acc.Reload()
        out.update((e.step, e.value) for e in acc.Scalars("train/loss"))
    return out


def _load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)


def test_sigterm_stops_at_a_step_with_last_ckpt_exit_143_and_the_resume_is_exact(tmp_path):
    process = _start(tmp_path, "--name", "stopped", "--trainer.max_steps", "90")
    code, stderr = _signal_when_training(process, tmp_path, 1, signal.SIGTERM, at_least=3)
    assert code == 143, stderr[-3000:]
    line = LINE.fullmatch(stderr.strip().splitlines()[-1])
    assert line and line[2] == "SIGTERM", stderr[-3000:]
    step = int(line[1])
    assert step == _step(tmp_path, 0) >= 3  # no step after the one it stopped at
    checkpoints = tmp_path / "stopped" / "checkpoints"
    stopped = _load(checkpoints / "last.ckpt")
    assert stopped["global_step"] == step and stopped["TaskMixture"]["consumed"] == step
    assert not list(checkpoints.glob("last-v*.ckpt"))

    command = shlex.split(line[3])
    assert command[:3] == ["python", "-m", "penguin.fit"] and command[-2:] == ["--ckpt_path", "last"]
    total = step + 3
    _run(tmp_path, [*command[3:], "--trainer.max_steps", str(total)])  # the command it printed
    _run(tmp_path, [*BASE, "--trainer.default_root_dir", str(tmp_path), "--name", "straight",
                    "--trainer.max_steps", str(total)])
    a, b = _load(tmp_path / "straight/checkpoints/last.ckpt"), _load(checkpoints / "last.ckpt")
    assert a["global_step"] == b["global_step"] == total
    for name, value in a["state_dict"].items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(value, b["state_dict"][name]), name
    assert a["TaskMixture"] == b["TaskMixture"]
    la, lb = _losses(tmp_path / "straight"), _losses(tmp_path / "stopped")
    assert sorted(la) == sorted(lb) == list(range(total)) and la == lb


@pytest.mark.parametrize("group", [False, True], ids=["rank-0", "every-rank"])
def test_sigterm_to_two_ddp_ranks_from_the_default_config_stops_both_at_one_step(tmp_path, group):
    process = _start(tmp_path, "--name", "ddp", "--trainer.devices", "2", "--trainer.max_steps", "90")
    code, stderr = _signal_when_training(process, tmp_path, 2, signal.SIGTERM, group)  # rank 0 only: rank 1 learns it
    assert code == 143, stderr[-3000:]
    line = LINE.fullmatch(stderr.strip().splitlines()[-1])
    assert line and line[2] == "SIGTERM", stderr[-3000:]
    step = int(line[1])
    time.sleep(2)
    assert _step(tmp_path, 0) == _step(tmp_path, 1) == step  # both ranks stopped after the same step
    checkpoints = tmp_path / "ddp" / "checkpoints"
    assert sorted(p.name for p in checkpoints.glob("last*.ckpt")) == ["last.ckpt"]
    assert _load(checkpoints / "last.ckpt")["global_step"] == step


def test_ctrl_c_stops_with_exit_130(tmp_path):
    process = _start(tmp_path, "--name", "ctrl_c", "--trainer.max_steps", "90")
    code, stderr = _signal_when_training(process, tmp_path, 1, signal.SIGINT)
    assert code == 130, stderr[-3000:]
    line = LINE.fullmatch(stderr.strip().splitlines()[-1])
    assert line and line[2] == "SIGINT"
    assert _load(tmp_path / "ctrl_c/checkpoints/last.ckpt")["global_step"] == int(line[1])


def test_a_second_ctrl_c_aborts_at_once():
    stop = SignalStop()
    stop._record(signal.SIGINT, None)
    assert stop.received == signal.SIGINT
    with pytest.raises(KeyboardInterrupt):
        stop._record(signal.SIGINT, None)
    stop._record(signal.SIGTERM, None)  # more SIGTERMs change nothing but which signal is reported
    assert stop.received == signal.SIGTERM


def test_a_recorded_signal_counts_as_a_stop_for_callbacks_that_wait():
    from callbacks.signal_stop import SignalStop, stop_requested

    stop = SignalStop()

    class Trainer:
        received_sigterm, should_stop, callbacks = False, False, [stop]

    assert not stop_requested(Trainer())
    stop.received = 15
    assert stop_requested(Trainer())
