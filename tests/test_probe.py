"""`python -m penguin.probe`: it trains, is deterministic by seed, and rejects what it cannot probe."""
import pytest

from penguin import probe
from tests.assertions import one_line_error


def test_probe_reports_each_window_and_repeats_itself_by_seed():
    kwargs = {"steps": 4, "batch": 4, "report_every": 2, "echo": lambda line: None}
    first = probe.run("near_gold_qa", head="tied", head_init="brain", **kwargs)
    assert len(first) == 2 and all(0.0 <= acc <= 1.0 for acc in first)
    assert probe.run("near_gold_qa", head="tied", head_init="brain", **kwargs) == first


def test_head_init_follows_the_brain_or_pytorch():
    brain_like = probe.make_head("tied", 128, "brain")
    default = probe.make_head("tied", 128, "torch")
    assert brain_like.project.weight.std() < 0.03 < default.project.weight.std()
    assert brain_like.answers.std() < 0.03 < default.answers.std()


def test_probe_rejects_tasks_without_a_two_answer_image_question():
    one_line_error(lambda: probe.run("side_qa", steps=2, batch=32, echo=print), "more than two answers", "--kinds")
    one_line_error(lambda: probe.run("arrow", steps=1, batch=2, echo=print), "no image question")


def test_cli_prints_progress(capsys):
    assert probe.main(["--steps", "2", "--batch", "2", "--threads", "1"]) == 0
    with pytest.raises(SystemExit):
        probe.main(["--task", "nope"])
