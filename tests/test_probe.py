"""`python -m penguin.probe`: it trains, is deterministic by seed, and rejects what it cannot probe."""
import pytest

from penguin import probe
from tests.assertions import one_line_error


def test_probe_reports_each_window_and_repeats_itself_by_seed():
    kwargs = {"steps": 4, "batch": 4, "report_every": 2, "echo": lambda line: None}
    first = probe.run("near_gold_qa", head="tied", head_init="brain", **kwargs)
    assert len(first) == 2 and all(0.0 <= acc <= 1.0 for acc in first)
    assert probe.run("near_gold_qa", head="tied", head_init="brain", **kwargs) == first


def test_probe_trains_the_stem_it_is_given(monkeypatch):
    built = []
    original = probe.Brain.from_preset
    monkeypatch.setattr(probe.Brain, "from_preset",
                        lambda *a, **k: built.append(k.get("stem")) or original(*a, **k))
    kwargs = {"steps": 2, "batch": 4, "report_every": 2, "echo": lambda line: None}
    probe.run("near_gold_qa", stem="patch", **kwargs)
    probe.run("near_gold_qa", **kwargs)
    assert built == ["patch", None]  # None: the preset's own stem
    with pytest.raises(SystemExit) as exit_:
        probe.main(["--stem", "pixels", "--steps", "1"])
    assert exit_.value.code == 2


def test_the_mlp_head_forms_a_product_the_linear_head_cannot():
    # The heading questions' answer is the sign of a product (a heading times a direction): on pooled
    # features whose label is sign(x0 * x1) the mlp head learns it and the linear head stays at chance.
    import torch
    import torch.nn.functional as F

    generator = torch.Generator().manual_seed(0)
    features = torch.randn(1024, 128, generator=generator)
    labels = (features[:, 0] * features[:, 1] > 0).long()
    accuracy = {}
    for kind in ("linear", "mlp"):
        torch.manual_seed(0)
        head = probe.make_head(kind, 128, "torch")
        optimizer = torch.optim.Adam(head.parameters(), lr=3e-3)
        for _ in range(300):
            optimizer.zero_grad()
            F.cross_entropy(head(features), labels).backward()
            optimizer.step()
        accuracy[kind] = (head(features).argmax(1) == labels).float().mean().item()
    assert accuracy["mlp"] > 0.9 and accuracy["linear"] < 0.65, accuracy


def test_head_init_follows_the_brain_or_pytorch():
    brain_like = probe.make_head("tied", 128, "brain")
    default = probe.make_head("tied", 128, "torch")
    assert brain_like.project.weight.std() < 0.03 < default.project.weight.std()
    assert brain_like.answers.std() < 0.03 < default.answers.std()


def test_probe_rejects_tasks_without_a_two_answer_image_question():
    one_line_error(lambda: probe.run("side_qa", steps=2, batch=32, echo=print), "more than two answers", "--kinds")
    one_line_error(lambda: probe.run("arrow", steps=1, batch=2, echo=print), "no image question")
    one_line_error(lambda: probe.run("near_gold_qa", steps=2, report_every=0), "report_every must be at least 1")


def test_cli_prints_progress_and_rejects_bad_input_in_one_line(capsys):
    assert probe.main(["--steps", "2", "--batch", "2", "--threads", "1", "--report-every", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in lines] == [["step", "1"], ["step", "2"]]
    assert all("accuracy over the last 1 batches" in line for line in lines)
    with pytest.raises(SystemExit) as exit_:
        probe.main(["--task", "side_qa", "--steps", "1", "--batch", "32"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.strip().count("\n") == 0
