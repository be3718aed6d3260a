"""The task registry: configs and tools name tasks (`"side_qa"`), the registry finds their class.

A task is one module holding one `TaskDataModule` subclass decorated with `@register`; the class
declares its question kinds (`question_kinds`) next to its `sample()`. Where tasks come from:

1. every module of the installed `datamodules` package (`load_all()` imports them once);
2. the entry-point group `penguin.tasks` of any installed distribution (`[project.entry-points."penguin.tasks"]
   my_tasks = "my_package.my_tasks"` in its `pyproject.toml`): each entry point names a module;
3. modules named at run time: `load_modules(["my_tasks", "path/to/more_tasks.py"])` — an
   importable module name or a `.py` file path; `data.task_modules` in a `python -m penguin.fit`
   config and `--task-modules` of `python -m penguin.tasks` call it.

Checks. At registration a class must have a name not taken by another class, its own kinds must
keep the prompt rules (`penguin.text.prompts.check_kinds`), and every answer of its kinds must be
one of its `label_names`. Across tasks, `question_kinds()` — run after every load — refuses two
tasks declaring the same kind name or the same prompt. Every violation is a one-line error naming
the task, the kind and the prompt. `get(name)` of an unknown task is a one-line `ValueError`
listing the valid names.
"""
from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import sys
import zlib
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from penguin.text.prompts import PromptRegistryError, QuestionKind, check_kinds

if TYPE_CHECKING:
    from datamodules.base import TaskDataModule

ENTRY_POINT_GROUP = "penguin.tasks"
_TASKS: dict[str, type["TaskDataModule"]] = {}
_NOT_TASKS = {"base", "registry", "stream", "balance", "mixture"}
_loaded = False
_checked: tuple[type, ...] = ()


def register(cls: type["TaskDataModule"]) -> type["TaskDataModule"]:
    """Class decorator: add a task to the registry (see the module docstring for the checks)."""
    if not cls.name:
        raise TypeError(f"{cls.__name__} has no task name; set the class attribute `name`")
    if cls.name in _TASKS and _qualname(_TASKS[cls.name]) != _qualname(cls):
        raise TypeError(f"task name {cls.name!r} registered twice ({_qualname(_TASKS[cls.name])}, {_qualname(cls)})")
    owners = {k.name: cls.name for k in cls.question_kinds}
    check_kinds(cls.question_kinds, owners)
    if cls.label_names:
        for kind in cls.question_kinds:
            missing = [a for a in kind.answers if a not in cls.label_names]
            if missing:
                raise PromptRegistryError(f"task {cls.name!r}: answers {missing} of kind {kind.name!r} are not in "
                                          f"its label_names {cls.label_names}; add them to label_names")
    _TASKS[cls.name] = cls
    return cls


def load_all() -> None:
    """Import every task module of the `datamodules` package and of the `penguin.tasks` entry points."""
    global _loaded
    if not _loaded:
        import datamodules

        for info in pkgutil.iter_modules(datamodules.__path__):
            if info.name not in _NOT_TASKS:
                importlib.import_module(f"datamodules.{info.name}")
        for entry in entry_points(group=ENTRY_POINT_GROUP):
            _import(entry.value, f"entry point {entry.name!r} of group {ENTRY_POINT_GROUP}")
        _loaded = True
    _check_across_tasks()


def load_modules(modules: Iterable[str], origin: str = "task_modules") -> None:
    """Import users' task modules: module names (`my_tasks`) or `.py` file paths. Errors are one
    line starting with `origin` (the option that named the modules)."""
    for module in modules:
        if not isinstance(module, str) or not module:
            raise ValueError(f"{origin}: {module!r} is not a module name or a .py path")
        _import(module, origin)
    load_all()


def names() -> list[str]:
    """Every registered task name, sorted."""
    load_all()
    return sorted(_TASKS)


def get(name: str) -> type["TaskDataModule"]:
    """The task class called `name`."""
    load_all()
    if name not in _TASKS:
        raise ValueError(f"unknown task {name!r}; valid tasks: {', '.join(sorted(_TASKS))} "
                         "(a task of your own: name its module in data.task_modules)")
    return _TASKS[name]


def question_kinds() -> dict[str, tuple[str, QuestionKind]]:
    """Every registered question kind: `{kind name: (task name, QuestionKind)}`, tasks in name order.

    Raises `PromptRegistryError` when two tasks declare the same kind name or the same prompt.
    """
    load_all()
    return {k.name: (name, k) for name in sorted(_TASKS) for k in _TASKS[name].question_kinds}


def _check_across_tasks() -> None:
    global _checked
    tasks = tuple(_TASKS[name] for name in sorted(_TASKS))
    if tasks == _checked:
        return
    owners: dict[str, str] = {}
    for cls in tasks:
        for k in cls.question_kinds:
            if k.name in owners:
                raise PromptRegistryError(f"question kind {k.name!r} is declared by task {owners[k.name]!r} "
                                          f"and by task {cls.name!r}; kind names are unique across every task")
            owners[k.name] = cls.name
    check_kinds([k for cls in tasks for k in cls.question_kinds], owners)
    _checked = tasks


def unregister(name: str) -> None:
    """Remove a task (for tests that register a temporary task)."""
    _TASKS.pop(name, None)


def _import(module: str, origin: str) -> None:
    try:
        if module.endswith(".py"):
            path = Path(module).resolve()
            if not path.is_file():
                raise ValueError(f"{origin}: no file {path}")
            name = f"penguin_user_tasks.{path.stem}_{zlib.crc32(str(path).encode()):08x}"
            if name in sys.modules:
                return
            spec = importlib.util.spec_from_file_location(name, path)
            loaded = importlib.util.module_from_spec(spec)
            sys.modules[name] = loaded
            spec.loader.exec_module(loaded)
        else:
            importlib.import_module(module)
    except ModuleNotFoundError as e:
        raise ValueError(f"{origin}: cannot import {module!r} ({e}); put its folder on PYTHONPATH or "
                         "give a .py path") from None


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"
