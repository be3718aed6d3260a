"""`bench/core_check.py`'s rules on hand-made evaluate tables: each core target met or missed at
its bound, "ends at its best" against the best checkpoint's numbers (points for scores, 10 % for
losses), and a run without a checkpoint is a one-line error."""
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("core_check", ROOT / "bench" / "core_check.py")
core_check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(core_check)


def _table(accuracy=0.95, edit=0.30, copy=0.001, draw=0.004, control=0.002, perplexity=3.0, unigram=50.0):
    table = {task: {"loss": 0.1, "exact_acc": accuracy, "chance_exact_acc": 0.5} for task in core_check.QUESTIONS}
    table["arrow"] = {"loss": 0.2, "edit_ratio": edit, "copy_scene/mse": copy, "draw_line_to_gold/mse": draw}
    table["control"] = {"loss": 0.1, "mse": control}
    table["language"] = {"loss": 1.0, "perplexity": perplexity, "unigram_perplexity": unigram}
    return table


def _met(rows):
    return {(r["task"], r["metric"]): r["met"] for r in rows}


def test_every_core_target_is_met_inside_its_bound_and_missed_outside():
    assert all(_met(core_check.final_targets(_table())).values())
    missed = _met(core_check.final_targets(_table(accuracy=0.89, edit=0.36, copy=0.0021, draw=0.0051,
                                                  control=0.0031, perplexity=50.0)))
    assert not any(missed.values()) and len(missed) == len(core_check.QUESTIONS) + 5
    rows = core_check.final_targets(_table())  # each question carries its chance level, the others none
    assert {r["task"]: r["chance"] for r in rows if r["chance"] is not None} == dict.fromkeys(core_check.QUESTIONS, 0.5)
    one = _table()
    one["side_qa"]["exact_acc"] = 0.5
    assert [k for k, ok in _met(core_check.final_targets(one)).items() if not ok] == [("side_qa", "exact_acc")]
    del one["turn_qa"]  # a task the checkpoint did not train is missed, not skipped
    assert not _met(core_check.final_targets(one))[("turn_qa", "exact_acc")]


def test_ends_at_best_compares_with_the_best_checkpoint_on_the_same_samples():
    final = {"side_qa": {"exact_acc": 0.90}, "arrow": {"edit_ratio": 0.30}, "control": {"loss": 0.105},
             "language": {"loss": 1.2}}
    best = {"side_qa": (900, {"exact_acc": 0.935}), "arrow": (800, {"edit_ratio": 0.26}),
            "control": (700, {"loss": 0.1}), "language": (600, {"loss": 1.0})}
    curves = {"val/side_qa/exact_acc": [(99, 0.99), (999, 0.9)]}
    rows = {r["task"]: r for r in core_check.ends_at_best(final, best, curves)}
    assert rows["side_qa"]["met"] is False  # 3.5 points below its best checkpoint
    assert rows["arrow"]["met"] is False and rows["arrow"]["score"] == "1 - edit_ratio"  # 0.70 vs 0.74
    assert rows["control"]["met"] is True  # 5 % above its best loss
    assert rows["language"]["met"] is False  # 20 % above
    assert (rows["side_qa"]["curve_best"], rows["side_qa"]["curve_best_step"]) == (0.99, 99)
    best["side_qa"] = (900, {"exact_acc": 0.925})
    assert {r["task"]: r["met"] for r in core_check.ends_at_best(final, best, curves)}["side_qa"] is True


def test_a_run_without_a_checkpoint_is_a_one_line_error(tmp_path, capsys):
    assert core_check.main(["--run", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no checkpoint" in err and "configs/core_cpu.yaml" in err
    assert core_check.main(["--run", str(tmp_path), "--val-batches", "0"]) == 2
    assert capsys.readouterr().err.strip() == "error: --val-batches: expected a positive integer, got 0"
    broken = tmp_path / "run" / "checkpoints"
    broken.mkdir(parents=True)
    (broken / "last.ckpt").write_bytes(b"not a checkpoint")
    assert core_check.main(["--run", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: --ckpt") and "not a readable" in err
