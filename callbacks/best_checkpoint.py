"""Best checkpoints — which `stepN.ckpt` is best for what, and the manifest `best.json` that says so.

`callbacks/last_checkpoint.py::LastCheckpoint` writes a `stepN.ckpt` at the end of every validation
and hands `BestSelection` that validation's `{task: val/<task>/loss}`; the selection decides which
titles the new file takes, and `best.json`, next to the checkpoints, records the holders. This file
holds the rule, the manifest and `resolve_checkpoint` (what `best` / `best:<task>` mean for
evaluate); `LastCheckpoint` holds the saving and the retention.

**Best per task.** A file is best for task `t` when its `val/<t>/loss` is finite and strictly lower
than the best so far (a tie keeps the older file). The first finite loss of a task is its best.

**Overall best.** A candidate step's losses are each divided by that task's own best so far
(including this step): `r_t = loss_t / best_t`, so 1.0 is "as good as this task has ever been".
The candidate's aggregate is the mean of `r_t` over the tasks it was validated on. It becomes the
overall best when all of these hold:

1. every loss it was validated on is finite (a NaN or inf anywhere: never overall best);
2. every task is within the tolerance of its own best: `r_t <= 1 + tolerance` (default 0.1, so
   a task more than 10 % worse than its best vetoes the step, however good the others are);
3. and one of: there is no overall best yet (the first validation with finite losses is always
   it: every `r_t` is 1.0); the current overall best was not validated on one of the
   candidate's tasks (a task that appeared later: the incumbent was never measured on it); or the
   candidate's aggregate is strictly lower than the current overall best's aggregate, recomputed
   now over the candidate's tasks against the same current bests.

The incumbent is re-scored at every decision because the bests it is normalised by keep falling;
comparing numbers computed against different bests would compare nothing. Tasks the candidate was
not validated on (a task dropped from the mixture) take no part in its decision; their per-task
bests stay in the manifest. Losses must be >= 0 (every Penguin loss is); a negative one is a
one-line error, since dividing by a negative best inverts the rule. A task whose best is 0 scores a
later 0 as 1.0 and anything above as infinitely worse.

**Manifest** `best.json`, rewritten atomically (temp file in the same folder, fsync, `os.replace`)
after the step file is safely on disk and before any file is retired, so it only ever names files
that exist. File names are relative to the folder holding `best.json`; non-finite losses are `null`
(long reasons wrapped here)::

    {
      "tolerance": 0.1,
      "overall": {"file": "step600.ckpt", "step": 600, "aggregate": 1.025,
                  "metrics": {"val/arrow/loss": 0.8, "val/side_qa/loss": 1.05},
                  "reason": "aggregate 1.025 below 1.125 of step 300 (mean loss/best over 2 tasks,
                             each within 10% of its best)"},
      "tasks": {
        "arrow":   {"file": "step600.ckpt", "step": 600, "loss": 0.8, "metrics": {...},
                    "reason": "lowest val/arrow/loss 0.8 (previous best 1 at step 300)"},
        "side_qa": {"file": "step300.ckpt", "step": 300, "loss": 1.0, "metrics": {...},
                    "reason": "first val/side_qa/loss 1"}
      },
      "latest": {"step": 900, "file": "step900.ckpt",
                 "verdict": "best for nothing; not overall best: aggregate 1.041 not below 1.025 of step 600"}
    }

`latest` is the newest validation's verdict, so an operator sees why the newest file holds no
title. The same verdict is one INFO line in the log at every validation.

**Resume.** `BestSelection.state_dict()` travels in every checkpoint (as part of `LastCheckpoint`'s
state), so `--ckpt_path last` continues the same decisions. The tolerance is configuration: the
resumed run's own value applies from then on.

**Resolve.** `resolve_checkpoint("best", "runs/NAME/checkpoints")` is the overall best's path,
`"best:side_qa"` that task's, anything else a path returned as given; the folder may also be the
run folder `runs/NAME`. No manifest, no overall best yet, an unknown task or a named file that is
missing are one-line `ValueError`s.
"""
from __future__ import annotations

import copy
import json
import math
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping

MANIFEST = "best.json"


def loss_name(task: str) -> str:
    return f"val/{task}/loss"


@dataclass
class Best:
    """One title's holder: the file, its step, every task's loss at that step, and why."""
    file: str
    step: int
    metrics: dict[str, float]
    reason: str


class BestSelection:
    """The rule above, fed one validation at a time by `observe`; no files, no Lightning."""

    def __init__(self, tolerance: float = 0.1) -> None:
        if not (tolerance >= 0 and math.isfinite(tolerance)):
            raise ValueError(f"best-checkpoint tolerance {tolerance}: must be a finite number >= 0 (0.1 = 10 %)")
        self.tolerance = tolerance
        self.tasks: dict[str, Best] = {}
        self.overall: Best | None = None
        self.overall_aggregate: float | None = None
        self.latest: dict[str, Any] | None = None

    def files(self) -> set[str]:
        """Every file some title names: the ones retention must keep."""
        named = {best.file for best in self.tasks.values()}
        return named | ({self.overall.file} if self.overall else set())

    def observe(self, step: int, file: str, losses: Mapping[str, float]) -> list[str]:
        """Judge the validation at `step`, saved as `file`, with `{task: val loss}`; the titles the
        file takes (task names, and "overall"). Updates the holders and `latest`."""
        losses = {task: float(loss) for task, loss in losses.items()}
        for task, loss in losses.items():
            if loss < 0:
                raise ValueError(f"{loss_name(task)} is {loss:.4g} at step {step}: the best-checkpoint rule "
                                 "divides by each task's best and needs losses >= 0")
        won = [task for task in sorted(losses) if self._take_task(task, step, file, losses)]
        verdict = self._judge_overall(step, file, losses)
        if verdict is None:
            won.append("overall")
        titles = f"best for {', '.join(won)}" if won else "best for nothing"
        self.latest = {"step": step, "file": file,
                       "verdict": titles if verdict is None else f"{titles}; not overall best: {verdict}"}
        return won

    def _take_task(self, task: str, step: int, file: str, losses: dict[str, float]) -> bool:
        loss, old = losses[task], self.tasks.get(task)
        if not math.isfinite(loss):
            return False
        if old is None:
            reason = f"first {loss_name(task)} {loss:.4g}"
        elif loss < old.metrics[task]:
            reason = f"lowest {loss_name(task)} {loss:.4g} (previous best {old.metrics[task]:.4g} at step {old.step})"
        else:
            return False
        self.tasks[task] = Best(file, step, dict(losses), reason)
        return True

    def _ratio(self, task: str, loss: float) -> float:
        best = self.tasks[task].metrics[task]
        if best > 0:
            return loss / best
        return 1.0 if loss == best else math.inf

    def _judge_overall(self, step: int, file: str, losses: dict[str, float]) -> str | None:
        """None when the step becomes the overall best (and then it is recorded), else why not."""
        if not losses:
            return "no val/<task>/loss was logged"
        broken = sorted(task for task, loss in losses.items() if not math.isfinite(loss))
        if broken:
            return ", ".join(f"{loss_name(task)} is {losses[task]}" for task in broken)
        ratios = {task: self._ratio(task, loss) for task, loss in losses.items()}
        worst = max(ratios, key=ratios.get)
        if ratios[worst] > 1 + self.tolerance:
            best = self.tasks[worst]
            return (f"{loss_name(worst)} {losses[worst]:.4g} is {100 * (ratios[worst] - 1):.0f}% above its best "
                    f"{best.metrics[worst]:.4g} at step {best.step} (tolerance {100 * self.tolerance:.0f}%)")
        aggregate = sum(ratios.values()) / len(ratios)
        within = f"mean loss/best over {len(ratios)} tasks, each within {100 * self.tolerance:.0f}% of its best"
        incumbent = self.overall
        if incumbent is None:
            reason = f"first validation with finite losses: aggregate {aggregate:.4g} ({within})"
        elif unmeasured := sorted(set(losses) - set(incumbent.metrics)):
            reason = (f"aggregate {aggregate:.4g} ({within}); the previous best, step {incumbent.step}, "
                      f"was never validated on {', '.join(unmeasured)}")
        else:
            reference = sum(self._ratio(task, incumbent.metrics[task]) for task in losses) / len(losses)
            if not aggregate < reference:
                return f"aggregate {aggregate:.4g} not below {reference:.4g} of step {incumbent.step}"
            reason = f"aggregate {aggregate:.4g} below {reference:.4g} of step {incumbent.step} ({within})"
        self.overall, self.overall_aggregate = Best(file, step, dict(losses), reason), aggregate
        return None

    def manifest(self) -> dict[str, Any]:
        """`best.json`'s content (the format in the module docstring)."""
        def entry(best: Best, **extra: Any) -> dict[str, Any]:
            metrics = {loss_name(t): (v if math.isfinite(v) else None) for t, v in sorted(best.metrics.items())}
            return {"file": best.file, "step": best.step, **extra, "metrics": metrics, "reason": best.reason}

        overall = None if self.overall is None else entry(self.overall, aggregate=self.overall_aggregate)
        return {"tolerance": self.tolerance, "overall": overall,
                "tasks": {task: entry(best, loss=best.metrics[task]) for task, best in sorted(self.tasks.items())},
                "latest": self.latest}

    def state_dict(self) -> dict[str, Any]:
        return {"tasks": {task: asdict(best) for task, best in self.tasks.items()},
                "overall": None if self.overall is None else asdict(self.overall),
                "overall_aggregate": self.overall_aggregate, "latest": copy.deepcopy(self.latest)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.tasks = {task: Best(**best) for task, best in state["tasks"].items()}
        self.overall = None if state["overall"] is None else Best(**state["overall"])
        self.overall_aggregate = state["overall_aggregate"]
        self.latest = copy.deepcopy(state["latest"])


def write_manifest(folder: str | Path, manifest: Mapping[str, Any]) -> Path:
    """Write `folder/best.json` atomically: a reader sees the old manifest or the new one, whole,
    also after a crash or power loss (temp file in the same folder, fsync, rename, fsync the folder)."""
    folder = Path(folder)
    path = folder / MANIFEST
    text = json.dumps(manifest, indent=2, allow_nan=False) + "\n"
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{MANIFEST}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            os.fchmod(f.fileno(), 0o644)
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    folder_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(folder_fd)  # the rename itself survives a power loss
    finally:
        os.close(folder_fd)
    return path


def read_manifest(path: str | Path) -> dict[str, Any]:
    """`best.json` as a dict; a one-line `ValueError` when it is unreadable."""
    path = Path(path)
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a readable best-checkpoint manifest ({type(e).__name__}: "
                         f"{str(e).splitlines()[0]})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("tasks"), dict) or "overall" not in manifest:
        raise ValueError(f"{path}: not a best-checkpoint manifest (no 'overall' and 'tasks')")
    return manifest


def resolve_checkpoint(spec: str, checkpoints_dir: str | Path) -> Path:
    """`best` → the overall best's file, `best:<task>` → that task's, anything else → `Path(spec)`
    unchanged (the caller checks a plain path). `checkpoints_dir` is the folder holding `best.json`
    or a run folder whose `checkpoints/` holds it."""
    if spec != "best" and not spec.startswith("best:"):
        return Path(spec)
    folder = Path(checkpoints_dir)
    if not (folder / MANIFEST).is_file() and (folder / "checkpoints" / MANIFEST).is_file():
        folder = folder / "checkpoints"
    path = folder / MANIFEST
    if not path.is_file():
        raise ValueError(f"{spec}: no {MANIFEST} in {folder}; best checkpoints are chosen at validation, "
                         "so the run has not validated yet or this is not its checkpoint folder")
    manifest = read_manifest(path)
    if spec == "best":
        entry = manifest["overall"]
        if entry is None:
            raise ValueError(f"best: {path} names no overall best yet (every validation so far had a non-finite "
                             "loss); use best:<task>")
    else:
        task = spec.split(":", 1)[1]
        entry = manifest["tasks"].get(task)
        if entry is None:
            known = ", ".join(sorted(manifest["tasks"])) or "none yet"
            raise ValueError(f"{spec}: no task {task!r} in {path}; known tasks: {known}")
    file = folder / entry["file"]
    if not file.is_file():
        raise ValueError(f"{spec}: {file} (named by {path}) is missing")
    return file
