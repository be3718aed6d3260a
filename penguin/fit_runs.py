"""Run `python -m penguin.fit` from a config dict and read back what it logged — for the
experiments in `bench/` and `penguin.bench forgetting`, which are real training runs.

    run_fit(config, folder)            # writes folder.parent/<name>.json, runs fit in a subprocess
    curves = read_curves(folder)       # {tag: [(step, value), ...]} from its TensorBoard files

`config` is what `--config` takes (JSON is YAML); its `name` and `trainer.default_root_dir` are
set from `folder`. A fit that exits non-zero raises `RuntimeError` with the last lines it printed.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def run_fit(config: dict, folder: Path) -> None:
    """One `python -m penguin.fit --config` run into `folder` (see the module docstring)."""
    folder = Path(folder)
    config = {**config, "name": folder.name,
              "trainer": {**config.get("trainer", {}), "default_root_dir": str(folder.parent)}}
    folder.parent.mkdir(parents=True, exist_ok=True)
    path = folder.parent / f"{folder.name}.json"
    path.write_text(json.dumps(config, indent=1))
    done = subprocess.run([sys.executable, "-m", "penguin.fit", "--config", str(path)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if done.returncode != 0:
        tail = "\n".join(done.stdout.splitlines()[-15:])
        raise RuntimeError(f"{folder.name}: penguin.fit exited {done.returncode}:\n{tail}")


def read_curves(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar of a run's TensorBoard files, `{tag: [(step, value), ...]}` in step order."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out: dict[str, list[tuple[int, float]]] = {}
    for events in sorted(Path(folder).glob("version_*/events.out.tfevents.*")):
        acc = EventAccumulator(str(events), size_guidance={"scalars": 0})
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            out.setdefault(tag, []).extend((e.step, e.value) for e in acc.Scalars(tag))
    return {tag: sorted(points) for tag, points in out.items()}
