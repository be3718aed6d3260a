"""Which task each training step trains: the `TaskSampler` contract and the two baselines.

Each training step carries one task's batch. A sampler holds a *share* per task (the probability
that a step trains it) and picks the task of global step `step` as

    task = sampler.choose(step, seed)

a pure function of ``(seed, step, shares)``: one draw of `torch.multinomial` over the shares, in
the fixed task order, from `penguin.seeding.generator_for(seed, "schedule", step)`. Every DDP rank
therefore runs the same task schedule (with different samples of each task) as long as the shares
agree — and they do, because shares change only in `update`, which every rank calls with the same
validation losses, already reduced across ranks::

    events = sampler.update({"arrow": 0.41, "side_qa": 1.9})   # after every validation
    self.log_dict({f"sampler/{k}": v for k, v in sampler.logs().items()})
    checkpoint["task_sampler"] = sampler.state_dict()          # and load_state_dict on resume

| name       | file              | shares                                                          |
|------------|-------------------|-----------------------------------------------------------------|
| `uniform`  | here              | 1/N each                                                        |
| `static`   | here              | fixed `weights`, normalised                                     |
| `round_robin` | here           | 1/N, in a fixed cycle (every task once per N steps)            |
| `adaptive` | `sampler.py`      | base weights × a boost for tasks that regressed, with a floor  |

Build samplers with `lit_modules.sampler.make_sampler`, which knows them all.

Contract, for every sampler:
- `shares()` sums to 1 over `tasks`; `logs()` gives ``"<task>/share"`` (and more, per sampler).
- `update(val_losses)` takes ``{task: loss}`` (or what `watched` picks, e.g. the validation
  error for a sampler whose `signal` is ``"error"``) for any subset of the tasks, returns events
  ``{task: what happened}`` (empty when nothing did); a name that is not a task is a `ValueError`.
- `state_dict()` is plain Python (safe for ``torch.load(weights_only=True)``) and holds everything
  a resumed run needs to take the same future decisions; `load_state_dict` refuses a state from
  another kind of sampler or another task list, in one line.

Writing a new sampler: ``class MySampler(TaskSampler, name="my_name")``, take ``tasks`` first,
implement `shares`, and override `update`/`state_dict`/`load_state_dict`/`logs` if it has state.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch

from penguin.seeding import generator_for


class TaskSampler(ABC):
    """Shares over tasks and the deterministic per-step choice from them.

    Args:
        tasks: the task names, unique; their order fixes the order of the multinomial draw.
    """

    registry: ClassVar[dict[str, type[TaskSampler]]] = {}
    name: ClassVar[str]

    def __init_subclass__(cls, name: str | None = None, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if name is not None:
            cls.name = name
            TaskSampler.registry[name] = cls

    def __init__(self, tasks: Sequence[str]) -> None:
        tasks = tuple(tasks)
        if not tasks:
            raise ValueError("a task sampler needs at least one task")
        if not all(isinstance(task, str) and task for task in tasks):
            raise ValueError(f"task names must be non-empty strings, got {list(tasks)!r}")
        if len(set(tasks)) != len(tasks):
            raise ValueError(f"tasks listed more than once: {sorted({t for t in tasks if tasks.count(t) > 1})}")
        self.tasks = tasks

    @abstractmethod
    def shares(self) -> dict[str, float]:
        """``{task: share}`` in task order, summing to 1."""

    def choose(self, step: int, seed: int) -> str:
        """The task that global step `step` trains, for run seed `seed`."""
        return draw_task(self.tasks, self.shares(), step, seed)

    signal: str = "loss"  # what `update` is fed per task; see `watched`

    def watched(self, losses: Mapping[str, float], errors: Mapping[str, float]) -> dict[str, float]:
        """What `update` takes from one validation's `losses` and `errors` (`{task: value}`, see
        `lit_modules/metrics.py`): the losses, or, for a sampler whose `signal` is ``"error"``,
        every task's error where it has one and its loss where it has none."""
        if self.signal == "loss":
            return dict(losses)
        return {task: errors.get(task, loss) for task, loss in losses.items()}

    def update(self, val_losses: Mapping[str, float]) -> dict[str, str]:
        """Take one validation's per-task values (`watched`; reduced across ranks); return events per task."""
        self.check_names(val_losses)
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {"kind": self.name, "tasks": list(self.tasks)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state.get("kind") != self.name:
            raise ValueError(f"the checkpoint holds a {state.get('kind')!r} task-sampler state but this run "
                             f"uses {self.name!r}; resume with the sampler the run was started with")
        if list(state.get("tasks", ())) != list(self.tasks):
            raise ValueError(f"the checkpoint's sampler tasks {list(state.get('tasks', ()))} differ from this "
                             f"run's {list(self.tasks)}; resume with the same task list, in the same order")

    def logs(self) -> dict[str, float]:
        """``"<task>/share"`` for every task (log them as ``sampler/<task>/share``)."""
        return {f"{task}/share": share for task, share in self.shares().items()}

    def check_names(self, val_losses: Mapping[str, float]) -> None:
        unknown = sorted(set(val_losses) - set(self.tasks))
        if unknown:
            raise ValueError(f"validation losses for unknown tasks {unknown}; the sampler's tasks are {list(self.tasks)}")


def draw_task(tasks: Sequence[str], shares: Mapping[str, float], step: int, seed: int) -> str:
    """The task of step `step` under `shares`: a pure function of its arguments."""
    probabilities = torch.tensor([shares[task] for task in tasks], dtype=torch.float64)
    index = torch.multinomial(probabilities, 1, generator=generator_for(seed, "schedule", step))
    return tasks[int(index)]


def normalised_weights(tasks: Sequence[str], weights: Mapping[str, float], option: str) -> dict[str, float]:
    """`weights` over exactly `tasks`, each finite and ≥ 0, scaled to sum 1 (`option` names them in errors)."""
    missing = [task for task in tasks if task not in weights]
    unknown = sorted(set(weights) - set(tasks))
    if missing or unknown:
        problems = ([f"missing {missing}"] if missing else []) + ([f"unknown {unknown}"] if unknown else [])
        raise ValueError(f"{option}: needs a weight for every task and no other name ({'; '.join(problems)})")
    for task in tasks:
        w = weights[task]
        if not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0:
            raise ValueError(f"{option}[{task!r}]: expected a finite number ≥ 0, got {w!r}")
    total = float(sum(weights[task] for task in tasks))
    if total <= 0:
        raise ValueError(f"{option}: at least one task needs a weight > 0")
    return {task: weights[task] / total for task in tasks}


class UniformSampler(TaskSampler, name="uniform"):
    """Every task gets share 1/N, always. The baseline every adaptive scheme must beat.

    Args:
        tasks: the task names.
    """

    def shares(self) -> dict[str, float]:
        return {task: 1.0 / len(self.tasks) for task in self.tasks}


class StaticSampler(TaskSampler, name="static"):
    """Fixed shares proportional to `weights`, never updated.

    Args:
        tasks: the task names.
        weights: ``{task: weight}`` for every task and no other name; finite, ≥ 0 (0 never trains
            that task), not all 0. Normalised to sum 1.
    """

    def __init__(self, tasks: Sequence[str], weights: Mapping[str, float]) -> None:
        super().__init__(tasks)
        self._shares = normalised_weights(self.tasks, weights, "weights")

    def shares(self) -> dict[str, float]:
        return dict(self._shares)


class RoundRobinSampler(TaskSampler, name="round_robin"):
    """Every task in turn: step `s` trains `tasks[s mod N]`. Shares are 1/N; the order is fixed,
    so every task is trained once in every N consecutive steps — for smoke runs and tests that
    must see every task, and as a no-randomness baseline.

    Args:
        tasks: the task names.
    """

    def shares(self) -> dict[str, float]:
        return {task: 1.0 / len(self.tasks) for task in self.tasks}

    def choose(self, step: int, seed: int) -> str:
        return self.tasks[step % len(self.tasks)]
