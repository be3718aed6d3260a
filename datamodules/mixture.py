"""`TaskMixture` — many tasks in one training run, one task per step, chosen by the task sampler.

    data:
      task_modules: [my_tasks]                     # your own task modules (names or .py paths), optional
      tasks: [side_qa, near_gold_qa, arrow]       # or "all": every registered task
      task_options:                                # per-task options (any TaskDataModule option)
        near_gold_qa: {balanced: true}
        side_qa: {kinds: [gold_left_right, agent_left_right]}
      image_size: 64
      batch_size: 32
      sampler: adaptive                            # uniform | static | adaptive
      sampler_options: {tolerance: 0.1}

**Schedule.** Training step `s` trains task `sampler.choose(s, seed)` — a pure function of the
step, the seed and the current shares, identical on every rank — on that task's batch
`train_batch(s, rank)`, which differs per rank. Shares change only after a validation, from
validation losses reduced across ranks, so every rank keeps the same schedule. Batches are built
in the training process (no DataLoader workers): the schedule depends on validation results, and
a worker would build batches ahead of them.

**Validation** runs every task's fixed validation batches in order (the same scenes each time).

**Rendering** happens in `on_after_batch_transfer`, on the training device.

**Resume.** `state_dict()` holds the number of consumed training batches and the sampler state;
Lightning stores it in every checkpoint, and the stream restarts at the next step.

**Your own tasks.** `task_modules` imports modules outside the package before the tasks are
resolved (`datamodules.registry.load_modules`; see `docs/adding_a_task.md`); they are stored with
the data settings in every checkpoint, so `python -m penguin.evaluate` finds them again.

Options shared by every task (`image_size`, `batch_size`, `seed`, `val_batches`, `balanced`,
`paraphrases`, `max_prompt_len`, `max_reply_len`, `tokenizer`) are set once here; `task_options`
overrides them per task.
"""
from __future__ import annotations

from typing import Any

from datamodules import registry
from datamodules.base import MIN_IMAGE_SIZE, TaskDataModule
from datamodules.stream import EpisodeStreamModule
from lit_modules.sampler import TaskSampler, make_sampler
from lit_modules.task_samplers import draw_task
from penguin.episode import EpisodeSpec


class TaskMixture(EpisodeStreamModule):
    def __init__(self, tasks: list[str] | str = "all", task_options: dict[str, dict[str, Any]] | None = None, *,
                 task_modules: list[str] | None = None, image_size: int = 64, batch_size: int = 32, seed: int = 0,
                 val_batches: int = 2,
                 balanced: bool = True, paraphrases: bool = False, max_prompt_len: int = 32,
                 max_reply_len: int = 16, tokenizer: str | None = None, sampler: str = "adaptive",
                 sampler_options: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.save_hyperparameters()
        if task_modules:
            try:
                registry.load_modules(task_modules)
            except ValueError as e:
                raise ValueError(f"data.{e}") from None
        self.task_names = resolve_tasks(tasks)
        task_options = dict(task_options or {})
        unknown = sorted(set(task_options) - set(self.task_names))
        if unknown:
            raise ValueError(f"data.task_options: {unknown} not in data.tasks ({', '.join(self.task_names)})")
        if not isinstance(image_size, int) or image_size < MIN_IMAGE_SIZE:
            raise ValueError(f"data.image_size: {image_size!r} is below {MIN_IMAGE_SIZE}; images need at least "
                             f"{MIN_IMAGE_SIZE} px to show the gold")
        shared = dict(image_size=image_size, batch_size=batch_size, seed=seed, val_batches=val_batches,
                      balanced=balanced, paraphrases=paraphrases, max_prompt_len=max_prompt_len,
                      max_reply_len=max_reply_len, tokenizer=tokenizer)
        self.tasks: dict[str, TaskDataModule] = {}
        for name in self.task_names:
            options = {**shared, **task_options.get(name, {})}
            try:
                self.tasks[name] = registry.get(name)(**options)
            except TypeError as e:
                raise ValueError(f"data.task_options.{name}: {e}") from None
            except ValueError as e:
                raise ValueError(f"data.task_options.{name}: {e}") from None
        self.image_size, self.seed = image_size, seed
        self.sampler: TaskSampler = make_sampler(sampler, self.task_names, **(sampler_options or {}))
        self._previous: tuple[int, dict[str, float]] | None = None

    # ------------------------------------------------------------------ batches
    def train_batch(self, step: int, rank: int = 0) -> EpisodeSpec:
        return self.tasks[self.task_of(step)].train_batch(step, rank)

    def task_of(self, step: int) -> str:
        """The task of training step `step`. Steps already produced under the previous shares keep
        them (see `update_sampler`), so a resumed run draws exactly what the uninterrupted run drew."""
        if self._previous is not None and step < self._previous[0]:
            return draw_task(self.task_names, self._previous[1], step, self.seed)
        return self.sampler.choose(step, self.seed)

    def update_sampler(self, val_losses: dict[str, float], val_errors: dict[str, float] | None = None) -> dict[str, str]:
        """Feed one validation's losses and errors (reduced across ranks; see `lit_modules/metrics.py`)
        to the sampler, which watches the one its `signal` names (`TaskSampler.watched`).

        Lightning fetches one training batch ahead, so when validation ends after `consumed`
        batches, batch `consumed` already exists, drawn with the old shares; the new shares apply
        from `consumed + 1` on. The old shares and that switch step are part of the state."""
        old = self.sampler.shares()
        events = self.sampler.update(self.sampler.watched(val_losses, val_errors or {}))
        self._previous = (self.consumed + 1, old)
        return events

    def validation_keys(self) -> list[tuple[str, int]]:
        return [(name, v) for name, task in self.tasks.items() for v in range(task.val_batches)]

    def validation_batch(self, key: tuple[str, int]) -> EpisodeSpec:
        return self.tasks[key[0]].val_batch(key[1])

    def state_dict(self) -> dict[str, Any]:
        previous = None if self._previous is None else [self._previous[0], dict(self._previous[1])]
        return {"consumed": self.consumed, "sampler": self.sampler.state_dict(), "previous": previous}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.consumed = int(state_dict["consumed"])
        self.sampler.load_state_dict(state_dict["sampler"])
        previous = state_dict.get("previous")
        self._previous = None if previous is None else (int(previous[0]), dict(previous[1]))


def resolve_tasks(tasks: list[str] | str) -> list[str]:
    """`"all"` → every registered task; a list → checked against the registry, order kept."""
    if tasks == "all":
        return registry.names()
    if isinstance(tasks, str):
        tasks = [tasks]
    if not tasks:
        raise ValueError("data.tasks: empty; name at least one task or use 'all'")
    for name in tasks:
        try:
            registry.get(name)
        except ValueError as e:
            raise ValueError(f"data.tasks: {e}") from None
    if len(set(tasks)) != len(tasks):
        raise ValueError(f"data.tasks: a task is listed twice in {tasks}")
    return list(tasks)
