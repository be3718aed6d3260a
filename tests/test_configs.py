"""Every shipped config in `configs/` is accepted by `python -m penguin.fit` as written (a key
Lightning does not know, or a typo in one, fails `--print_config`), names only registered tasks,
and keeps its step-defined length (no `max_time`: a learning check is defined by its steps, and
a time limit stops a slower machine early)."""
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from datamodules import registry

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))


def test_there_are_configs():
    assert {"tiny_cpu.yaml", "core_cpu.yaml", "small64.yaml", "ddp.yaml"} <= {c.name for c in CONFIGS}


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.name)
def test_a_shipped_config_is_accepted_as_written(config):
    written = yaml.safe_load(config.read_text())
    tasks = written.get("data", {}).get("tasks", "all")
    if tasks != "all":
        assert set(tasks) <= set(registry.names()), f"{config.name}: unknown tasks {set(tasks) - set(registry.names())}"
        assert set(written["data"].get("task_options", {})) <= set(tasks)
    assert "max_time" not in written.get("trainer", {})
    done = subprocess.run([sys.executable, "-m", "penguin.fit", "--config", str(config), "--print_config"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    printed = yaml.safe_load(done.stdout)
    assert printed["trainer"]["max_steps"] == written["trainer"]["max_steps"]
    assert printed["data"]["tasks"] == tasks
