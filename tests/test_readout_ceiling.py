"""`bench/readout_ceiling.py`: a read-out of 64-px renders answers every question predicate (the
pixels hold the heading), a scrambled read-out does not, and bad sizes are a one-line error."""
import dataclasses
import importlib.util
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("readout_ceiling", ROOT / "bench" / "readout_ceiling.py")
readout_ceiling = importlib.util.module_from_spec(spec)
spec.loader.exec_module(readout_ceiling)


def test_the_64_px_image_holds_every_question_predicate():
    result = readout_ceiling.ceiling(64, 512, seed=3, batch=256)
    for name in readout_ceiling.PREDICATES:
        assert result[name] >= 0.97, name
    assert result["heading_err_mean"] < 3.0 and result["heading_err_p95"] < 8.0


def test_a_read_out_that_loses_the_heading_is_caught(monkeypatch):
    # The agreement is a real comparison: a read-out whose heading is a quarter turn off answers the
    # heading-relative predicates at chance or worse, and the position ones stay right.
    true_read_out = readout_ceiling.read_out

    def turned(images):
        seen = true_read_out(images)
        return dataclasses.replace(seen, heading=torch.remainder(seen.heading + torch.pi / 2, 2 * torch.pi))

    monkeypatch.setattr(readout_ceiling, "read_out", turned)
    result = readout_ceiling.ceiling(64, 256, seed=3)
    assert result["gold_on_agents_left"] < 0.7 and result["facing_gold"] < 0.9
    assert result["gold_left"] >= 0.97
    assert result["heading_err_mean"] > 80


def test_bad_arguments_are_one_line_errors(capsys):
    with pytest.raises(SystemExit) as exit_:
        readout_ceiling.main(["--sizes", "4"])
    assert exit_.value.code == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "--sizes" in error
    with pytest.raises(SystemExit):
        readout_ceiling.main(["--scenes", "0"])
    assert "--scenes: expected at least 1, got 0" in capsys.readouterr().err
