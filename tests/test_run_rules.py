"""The run-folder and resume rules of `python -m penguin.fit` (its docstring) and the one-line
errors around them: a fresh run does not write beside an earlier run's checkpoints (`--restart
true` moves them aside), resumed progress goes to the run's own `last.ckpt` also in a moved
folder, a resume refuses model and data changes it cannot honour, and bad trainer options and an
unwritable `python -m penguin.evaluate --out` are one line each, before any work is done."""
import os
import shutil
from pathlib import Path

import pytest
import torch

from penguin import evaluate, fit
from penguin.fit_runs import read_curves

TINY = ["--model.preset", "tiny64", "--data.batch_size", "4", "--data.val_batches", "1",
        "--data.tasks", "[side_qa, arrow]", "--trainer.accelerator", "cpu", "--trainer.enable_progress_bar", "false",
        "--trainer.enable_model_summary", "false", "--trainer.val_check_interval", "2"]


def _fit(root: Path, *extra: str) -> int:
    return fit.main([*TINY, "--trainer.default_root_dir", str(root), *extra])


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err and "Traceback" not in "\n".join(err), err
    return err[-1]


def _step(path: Path) -> int:
    return torch.load(path, map_location="cpu", weights_only=False)["global_step"]


@pytest.fixture(scope="module")
def earlier(tmp_path_factory) -> Path:
    """A 2-step run "a": its run folder, copied into each test that changes it."""
    root = tmp_path_factory.mktemp("earlier")
    assert _fit(root, "--name", "a", "--trainer.max_steps", "2") == 0
    return root / "a"


def _copy(earlier: Path, root: Path, name: str = "a") -> Path:
    shutil.copytree(earlier, root / name)
    return root / name / "checkpoints"


def test_a_fresh_run_refuses_a_folder_with_checkpoints_and_restart_moves_them_aside(earlier, tmp_path, capsys):
    checkpoints = _copy(earlier, tmp_path)
    before = sorted(p.name for p in checkpoints.iterdir())
    assert _fit(tmp_path, "--name", "a", "--trainer.max_steps", "1") == 2
    err = _error(capsys)
    assert err.startswith(f"error: {checkpoints} already holds an earlier run's checkpoints (last.ckpt, step2.ckpt)")
    assert "--ckpt_path last" in err and "--restart true" in err
    assert sorted(p.name for p in checkpoints.iterdir()) == before  # untouched
    assert _fit(tmp_path, "--name", "a", "--restart", "true", "--ckpt_path", "last") == 2
    assert "give one" in _error(capsys)

    assert _fit(tmp_path, "--name", "a", "--restart", "true", "--trainer.max_steps", "1") == 0
    (aside,) = tmp_path.glob("a/checkpoints.old-*")
    assert f"--restart: moved the earlier checkpoints to {aside}" in capsys.readouterr().out
    assert sorted(p.name for p in aside.iterdir()) == before and _step(aside / "last.ckpt") == 2
    assert _step(checkpoints / "last.ckpt") == 1
    # the earlier run's TensorBoard files move aside too: the run folder's curves are this run's alone
    (logs,) = tmp_path.glob("a/tensorboard.old-*")
    assert [p.name for p in logs.iterdir()] == ["version_0"] and list(logs.glob("version_0/events.*"))
    assert [s for s, _ in read_curves(logs)["val/side_qa/loss"]] == [1]  # the earlier run validated at step 1
    assert "val/side_qa/loss" not in read_curves(tmp_path / "a")  # this 1-step run did not validate


def test_restart_moves_an_earlier_runs_curves_aside_even_without_checkpoints(tmp_path, capsys):
    assert _fit(tmp_path, "--name", "b", "--trainer.max_steps", "2") == 0
    shutil.rmtree(tmp_path / "b" / "checkpoints")  # a run stopped before its first checkpoint leaves curves only
    assert _fit(tmp_path, "--name", "b", "--restart", "true", "--trainer.max_steps", "2") == 0
    assert "--restart: moved the earlier TensorBoard files to" in capsys.readouterr().out
    assert [step for step, _ in read_curves(tmp_path / "b")["val/side_qa/loss"]] == [1]  # one run's, not two


def test_a_moved_run_resumes_into_its_own_last_ckpt(earlier, tmp_path):
    checkpoints = _copy(earlier, tmp_path, "moved")
    assert _fit(tmp_path, "--name", "moved", "--ckpt_path", "last", "--trainer.max_steps", "3") == 0
    assert sorted(p.name for p in checkpoints.glob("last*.ckpt")) == ["last.ckpt"]
    assert _step(checkpoints / "last.ckpt") == 3
    assert _step(earlier / "checkpoints" / "last.ckpt") == 2  # the original stays as it was


SLURM = {"SLURM_NTASKS": "1", "SLURM_NTASKS_PER_NODE": "1", "SLURM_JOB_NAME": "penguin", "SLURM_JOB_ID": "1",
         "SLURM_PROCID": "0", "SLURM_LOCALID": "0", "SLURM_NODEID": "0", "SLURM_NODELIST": "localhost"}


def test_under_slurm_the_requeue_checkpoint_counts_as_a_ckpt_path(earlier, tmp_path, capsys, monkeypatch):
    checkpoints = _copy(earlier, tmp_path)
    requeued = tmp_path / "hpc_ckpt_1.ckpt"  # what Lightning's SIGUSR1 handler writes to default_root_dir
    shutil.copy(checkpoints / "last.ckpt", requeued)
    for name, value in SLURM.items():
        monkeypatch.setenv(name, value)
    assert _fit(tmp_path, "--name", "a", "--trainer.max_steps", "3") == 0
    assert f"resuming from SLURM's requeue checkpoint {requeued} (Lightning's auto-requeue)" in capsys.readouterr().out
    assert sorted(p.name for p in checkpoints.glob("last*.ckpt")) == ["last.ckpt"]
    assert _step(checkpoints / "last.ckpt") == 3
    assert _fit(tmp_path, "--name", "a", "--trainer.max_steps", "4", "--model.lr", "1") == 2  # the resume rule holds
    assert _error(capsys).startswith(f"error: --ckpt_path {requeued}: a resume continues the checkpoint's run")


@pytest.mark.parametrize("args, fields", [
    (["--model.lr", "1e6"], ["model.lr 0.0005 in the checkpoint, 1000000.0 given"]),
    (["--model.preset", "small64"], ["model.preset 'tiny64' in the checkpoint, 'small64' given"]),
    (["--data.tasks", "[side_qa]", "--model.weighting", "uncertainty"],
     ["model.tasks ['side_qa', 'arrow'] in the checkpoint, ['side_qa'] given",
      "model.weighting 'static' in the checkpoint, 'uncertainty' given",
      "data.tasks ['side_qa', 'arrow'] in the checkpoint, ['side_qa'] given"]),
], ids=["lr", "preset", "tasks-and-weighting"])
def test_a_resume_refuses_model_and_data_changes_in_one_line(earlier, tmp_path, capsys, args, fields):
    checkpoints = _copy(earlier, tmp_path)
    assert _fit(tmp_path, "--name", "a", "--ckpt_path", "last", "--trainer.max_steps", "3", *args) == 2
    err = _error(capsys)
    assert err.startswith(f"error: --ckpt_path {checkpoints / 'last.ckpt'}: a resume continues the checkpoint's run "
                          "as it was set up, but "), err
    assert all(f in err for f in fields), err
    assert err.endswith(f"--model.init_from {checkpoints / 'last.ckpt'}")
    assert sorted(p.name for p in (tmp_path / "a").glob("version_*")) == ["version_0"]  # nothing ran, nothing logged
    assert _step(checkpoints / "last.ckpt") == 2


def test_a_bad_trainer_option_is_one_line(tmp_path, capsys):
    assert _fit(tmp_path, "--trainer.max_steps", "-5") == 2
    assert _error(capsys) == ("error: trainer: `max_steps` must be a non-negative integer or -1 (infinite steps). "
                              "You passed in -5.")


def test_evaluate_checks_the_out_folder_before_evaluating(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(evaluate, "evaluate", lambda *a, **k: pytest.fail("evaluated before checking --out"))
    (tmp_path / "file").write_text("in the way")
    out = tmp_path / "file" / "grids"
    assert evaluate.main(["--ckpt", "any.ckpt", "--out", str(out)]) == 2
    assert _error(capsys) == (f"error: --out {out}: cannot write the PNG grids there ({tmp_path / 'file'} is a file); "
                              "give a writable folder")
    if os.geteuid() != 0:  # root writes through permission bits
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        assert evaluate.main(["--ckpt", "any.ckpt", "--out", str(locked)]) == 2
        assert _error(capsys).startswith(f"error: --out {locked}: cannot write the PNG grids there (Permission denied)")
