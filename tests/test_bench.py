"""`python -m penguin.bench` runs and reports what it promises (tiny settings; numbers not asserted)."""
import json

import pytest

from penguin import bench


def test_game_bench_reports_every_row_as_json(capsys):
    assert bench.main(["game", "--threads", "1", "--seconds", "0.05", "--batch-64", "8", "--batch-224", "2",
                       "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    rows = report["results"]["threads=1"]
    assert set(rows) == {"bare64", "bare224", "arrow224", "control224"}
    assert all(row["render_per_s"] > 0 for row in rows.values())


def test_train_bench_reports_throughput_and_data_share(capsys):
    assert bench.main(["train", "--preset", "tiny64", "--tasks", "side_qa", "arrow", "--batch", "2",
                       "--steps", "2", "--warmup", "1", "--device", "cpu", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["samples_per_s"] > 0 and 0 < report["data_share"] < 1
    assert set(report["per_task_samples_per_s"]) == {"side_qa", "arrow"}
    assert report["tflops_per_s"] > 0 and report["mfu"] is None  # no peak known for a CPU


def test_bad_arguments_are_one_line_errors(capsys):
    with pytest.raises(SystemExit) as exit_:
        bench.main(["train", "--steps", "0", "--device", "cpu"])
    assert exit_.value.code == 2
    assert "--steps: expected a positive integer" in capsys.readouterr().err
