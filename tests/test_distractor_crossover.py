"""`bench/distractor_crossover.py`: each variant shows what it says (the line's blue pixels, the gold
found by the game's read-out), the other object's turn agrees with the task's own labels, the accounting
scores an oracle 1 and its opposite 0, and a checkpoint without the tasks is a one-line error."""
import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from datamodules import registry
from penguin.brain import Brain
from penguin.game.readout import read_out
from penguin.game.render import LINE_BLUE

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("distractor_crossover", ROOT / "bench" / "distractor_crossover.py")
crossover = importlib.util.module_from_spec(spec)
spec.loader.exec_module(crossover)


def _pixels_of(images: torch.Tensor, colour) -> torch.Tensor:
    """Pixels per image `[B]` within 0.05 of `colour` in every channel."""
    target = torch.tensor(colour)[None, :, None, None]
    return ((images - target).abs() < 0.05).all(1).flatten(1).sum(1)


def _view(task: str, kind: str, index: int = 0):
    data = registry.get(task)(kinds=[kind], val_batches=1, batch_size=16)
    return data, data.val_batch(index)


def test_each_variant_draws_what_it_names():
    _, turn = _view("turn_qa", "turn_to_gold")
    view = turn.steps[0].input
    assert (_pixels_of(view.render(64), LINE_BLUE) > 0).all()  # turn_qa draws its line in every scene
    assert (_pixels_of(crossover.altered(view, "no line", 0).render(64), LINE_BLUE) == 0).all()
    assert read_out(view.render(64)).gold_present.all()
    assert not read_out(crossover.altered(view, "no gold", 0).render(64)).gold_present.any()
    _, move = _view("next_move_qa", "turn_toward_gold_word")
    plain = move.steps[0].input
    assert (_pixels_of(plain.render(64), LINE_BLUE) == 0).all()
    lined = crossover.altered(plain, "with line", 3)
    assert (_pixels_of(lined.render(64), LINE_BLUE) > 0).all()
    again = crossover.altered(plain, "with line", 3)  # the drawn lines are a function of the batch index
    assert torch.equal(lined.line_angle, again.line_angle)
    assert not torch.equal(lined.line_angle, crossover.altered(plain, "with line", 4).line_angle)
    assert crossover.altered(plain, "as trained", 0) is plain


@pytest.mark.parametrize("kind, other", [("turn_to_gold", "gold"), ("turn_to_line", "line")])
def test_the_turn_toward_an_object_is_the_tasks_own_answer_about_it(kind, other):
    # turn_qa's labels are 0 (<clock>) exactly where turning clockwise toward the named object is shorter
    _, batch = _view("turn_qa", kind, 2)
    step = batch.steps[0]
    assert torch.equal(crossover.other_turn(step.input, other), step.labels == 0)


class _Oracle:
    """A stand-in module whose reply is the teacher-forced answer (or, `flip`ped, the other one)."""

    def __init__(self, flip: bool = False):
        self.brain = SimpleNamespace(config=SimpleNamespace(image_size=64))
        self.flip = flip

    def run(self, episode):
        step = episode.steps[0]
        reply = step.reply_ids.clone()
        if self.flip:  # swap the two single-token answers of a two-answer kind
            first = reply[:, 1]
            a, b = first.unique().tolist()
            reply[:, 1] = torch.where(first == a, b, a)
        logits = torch.nn.functional.one_hot(reply[:, 1:], 2048).float()
        logits = torch.cat([logits, torch.zeros_like(logits[:, :1])], 1)
        return SimpleNamespace(outputs=[SimpleNamespace(text_logits=logits)])


def test_the_accounting_scores_an_oracle_one_and_its_opposite_zero():
    right = crossover.row(_Oracle(), "turn_qa", "turn_to_gold", "as trained", "line", batches=4)
    assert right["exact_acc"] == 1.0 and right["answers"] == 128
    assert 0.3 < right["agrees_with_other"] < 0.7  # the gold's turn and the line's are unrelated
    wrong = crossover.row(_Oracle(flip=True), "turn_qa", "turn_to_gold", "as trained", "line", batches=4)
    assert wrong["exact_acc"] == 0.0
    assert wrong["agrees_with_other"] == pytest.approx(1 - right["agrees_with_other"])
    # asked about the line and compared with the line's own turn, the oracle agrees every time
    line = crossover.row(_Oracle(), "turn_qa", "turn_to_line", "as trained", "line", batches=2)
    assert line["agrees_with_other"] == 1.0



def test_rows_of_tasks_the_run_did_not_train_are_skipped(monkeypatch, capsys, tmp_path):
    (tmp_path / "x.ckpt").write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    module = _Oracle()
    module.task_names, module.eval = ["turn_qa"], lambda: None
    monkeypatch.setattr(crossover, "load_checkpoint", lambda path, device: (module, {}))
    monkeypatch.setattr(crossover, "ROWS", (("turn_qa", "turn_to_gold", "no line", None),
                                            ("next_move_qa", "turn_toward_gold_word", "with line", "line")))
    out = tmp_path / "rows.json"
    assert crossover.main(["--ckpt", "x.ckpt", "--batches", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[1].startswith("next_move_qa") and "skipped: not trained" in printed[1]
    rows = json.loads(out.read_text())["rows"]
    assert [(r["task"], r["variant"], r["exact_acc"]) for r in rows] == [("turn_qa", "no line", 1.0)]

