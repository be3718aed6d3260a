"""The worked example of `docs/adding_a_task.md` is true: its code block, written as one file into
a temporary package, is a task that `python -m penguin.tasks list|show`, `python -m penguin.fit`
and `python -m penguin.evaluate` use, and that passes the registry-wide prompt check and the
label check against the reference block of the same page."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from datamodules import registry
from penguin.testing import check_labels, check_task

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "adding_a_task.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", PAGE.read_text(), re.S)


@pytest.fixture
def package(tmp_path):
    """`my_tasks.gold_top_half_qa` under tmp_path, holding the page's first code block verbatim."""
    folder = tmp_path / "my_tasks"
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    (folder / "gold_top_half_qa.py").write_text(_blocks()[0])
    return tmp_path


def _run(package: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(package), str(ROOT)])}
    return subprocess.run([sys.executable, "-m", *args], cwd=package, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_the_page_holds_a_complete_task_file_and_its_reference():
    task, reference = _blocks()[:2]
    assert "@register" in task and "class GoldTopHalfQA(TaskDataModule)" in task and "def sample(" in task
    assert '@reference("gold_in_top_half")' in reference


def test_the_worked_example_passes_the_prompt_and_label_checks(package):
    rules = {}

    def reference(*kinds):
        def add(rule):
            rules.update({k: rule for k in kinds})
            return rule
        return add

    exec(_blocks()[1], {"reference": reference})
    registry.load_modules([str(package / "my_tasks" / "gold_top_half_qa.py")])
    try:
        owners = {name: task for name, (task, _) in registry.question_kinds().items()}
        assert owners["gold_in_top_half"] == "gold_top_half_qa" and owners["near_gold"] == "near_gold_qa"
        check_task("gold_top_half_qa")
        assert check_labels("gold_top_half_qa", rules) == 600
        rates = registry.get("gold_top_half_qa")(batch_size=500).label_rates(2000)
        assert abs(rates["yes"] - 0.5) < 0.05
    finally:
        registry.unregister("gold_top_half_qa")


def test_the_worked_example_lists_shows_trains_and_evaluates(package):
    listed = _run(package, "penguin.tasks", "--task-modules", "my_tasks.gold_top_half_qa", "list")
    assert listed.returncode == 0, listed.stderr
    assert "gold_top_half_qa" in listed.stdout and "side_qa" in listed.stdout

    path = str(package / "my_tasks" / "gold_top_half_qa.py")
    shown = _run(package, "penguin.tasks", "--task-modules", path, "show", "gold_top_half_qa", "--n", "4",
                 "--size", "64", "--out", str(package / "shown"))
    assert shown.returncode == 0, shown.stderr
    records = [json.loads(line) for line in (package / "shown" / "gold_top_half_qa.jsonl").read_text().splitlines()]
    for record in records:
        step = record["steps"][0]
        assert step["question"] == "gold_in_top_half"
        assert step["answer"] == ("yes" if step["scene"]["gold"][0][1] < 0.5 else "no")

    fit = _run(package, "penguin.fit", "--name", "example", "--data.task_modules", f"[{path}]",
               "--data.tasks", "[gold_top_half_qa, near_gold_qa]", "--data.batch_size", "4", "--data.val_batches", "1",
               "--trainer.max_steps", "4", "--trainer.val_check_interval", "2", "--trainer.enable_progress_bar",
               "false", "--trainer.default_root_dir", str(package / "runs"))
    assert fit.returncode == 0, fit.stderr[-2000:]
    checkpoint = package / "runs" / "example" / "checkpoints" / "last.ckpt"
    evaluated = _run(package, "penguin.evaluate", "--ckpt", str(checkpoint), "--json", "--val-batches", "1",
                     "--out", str(package / "eval"))
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    table = json.loads(evaluated.stdout)
    assert set(table) == {"gold_top_half_qa", "near_gold_qa"} and "gold_in_top_half/exact_acc" in table["gold_top_half_qa"]


def test_an_unimportable_task_module_is_a_one_line_error(package):
    result = _run(package, "penguin.tasks", "--task-modules", "no_such_tasks", "list")
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: --task-modules: cannot import 'no_such_tasks'")
    assert "\n" not in result.stderr.strip()
