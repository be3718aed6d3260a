"""`bench/checkpoint_cli.py`, the command line of the checkpoint probes in `bench/`: for each probe,
bad arguments are one-line errors before anything is loaded, and a checkpoint whose run did not
train the probe's task is refused in one line naming what it did train."""
import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest

from penguin.brain import Brain

ROOT = Path(__file__).resolve().parents[1]
PROBES = {"distractor_crossover": "turn_qa", "control_views": "control"}  # script: the task it asks about


def _probe(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", sorted(PROBES))
def test_bad_arguments_are_one_line_errors_before_any_evaluation(name, tmp_path, capsys, monkeypatch):
    probe = _probe(name)
    (tmp_path / "x.ckpt").write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    loaded = []
    monkeypatch.setattr(probe, "load_checkpoint", lambda path, device: loaded.append(path))
    cases = [
        (["--ckpt", str(tmp_path / "missing.ckpt")], "missing.ckpt: no such file"),
        (["--ckpt", "x.ckpt", "--batches", "0"], "--batches: expected at least 1, got 0"),
        (["--ckpt", "x.ckpt", "--out", "/proc/no/such/rows.json"], "--out /proc/no/such/rows.json"),
    ]
    for argv, named in cases:
        with pytest.raises(SystemExit) as exit_:
            probe.main(argv)
        assert exit_.value.code == 2
        error = capsys.readouterr().err.strip().splitlines()[-1]
        assert named in error and "Traceback" not in error
    assert loaded == []  # nothing was evaluated before the arguments were refused


@pytest.mark.parametrize("name", sorted(PROBES))
def test_a_checkpoint_whose_run_did_not_train_the_task_is_a_one_line_error(name, monkeypatch, capsys, tmp_path):
    probe = _probe(name)
    (tmp_path / "x.ckpt").write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    module = SimpleNamespace(task_names=["side_qa", "arrow"], eval=lambda: None, brain=Brain.from_preset("tiny64"))
    monkeypatch.setattr(probe, "load_checkpoint", lambda path, device: (module, {}))
    with pytest.raises(SystemExit) as exit_:
        probe.main(["--ckpt", "x.ckpt"])
    assert exit_.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"did not train {PROBES[name]} (it trained side_qa, arrow)" in error


@pytest.mark.parametrize("name", sorted(PROBES))
def test_an_unreadable_checkpoint_is_a_one_line_error(name, monkeypatch, capsys, tmp_path):
    probe = _probe(name)
    (tmp_path / "x.ckpt").write_bytes(b"not a checkpoint")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        probe.main(["--ckpt", "x.ckpt"])
    assert exit_.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "x.ckpt: not a readable Penguin checkpoint" in error and "Traceback" not in error
