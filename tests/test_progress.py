"""The progress bar's task-mix postfix fits one terminal line however many tasks train: the task
and the (at most three) most boosted shares, capped to the terminal width."""
from types import SimpleNamespace

from callbacks.progress import FRAME, TaskMixProgressBar, mix_postfix

TASKS = [f"task_number_{i:02d}" for i in range(25)]


def _shares(boosted: dict[str, float]) -> dict[str, float]:
    rest = (1 - sum(boosted.values())) / (len(TASKS) - len(boosted))
    return {name: boosted.get(name, rest) for name in TASKS}


def _line(postfix: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in postfix.items())


def test_25_tasks_show_the_current_task_and_the_three_most_boosted():
    shares = _shares({"task_number_07": 0.21, "task_number_19": 0.12, "task_number_03": 0.09, "task_number_11": 0.08})
    postfix = mix_postfix("task_number_19", shares, width=200)
    assert postfix == {"task": "task_number_19", "top": "task_number_07:21% task_number_19:12% task_number_03:9%"}
    assert len(postfix["top"]) < 80  # every share of the 25 would take 450 characters


def test_the_postfix_is_capped_to_the_terminal_width():
    shares = _shares({"task_number_07": 0.21, "task_number_19": 0.12, "task_number_03": 0.09})
    tops = []
    for width in (80, 120, 140, 160):
        postfix = mix_postfix("task_number_19", shares, width=width)
        assert postfix["task"] == "task_number_19"
        assert "top" not in postfix or FRAME + len(", " + _line(postfix)) <= width, width
        tops.append(postfix.get("top", ""))
    assert tops == ["", "task_number_07:21%", "task_number_07:21% task_number_19:12%",
                    "task_number_07:21% task_number_19:12% task_number_03:9%"]


def test_a_uniform_mix_names_no_task():
    assert mix_postfix("task_number_00", {name: 1 / 25 for name in TASKS}, width=200) == {"task": "task_number_00"}


def test_the_bar_reads_the_data_sampler(monkeypatch):
    shares = _shares({"task_number_07": 0.5})
    trainer = SimpleNamespace(datamodule=SimpleNamespace(sampler=SimpleNamespace(shares=lambda: shares)))
    monkeypatch.setattr("lightning.pytorch.callbacks.TQDMProgressBar.get_metrics",
                        lambda self, trainer, module: {"train/loss": 1.0, "v_num": 3})
    monkeypatch.setattr("shutil.get_terminal_size", lambda: SimpleNamespace(columns=200))
    bar = TaskMixProgressBar()
    bar._task = "task_number_02"
    assert bar.get_metrics(trainer, None) == {"train/loss": 1.0, "task": "task_number_02", "top": "task_number_07:50%"}
