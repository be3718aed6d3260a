"""The task registry: configs and tools name tasks (`"side_qa"`), the registry finds their class.

A task module registers its datamodule with the `@register` decorator; `load_all()` imports every
module of the `datamodules` package once so the registry is complete. `get(name)` raises a
one-line `ValueError` listing the valid names for an unknown task.
"""
from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datamodules.base import TaskDataModule

_TASKS: dict[str, type["TaskDataModule"]] = {}
_NOT_TASKS = {"base", "registry", "stream", "balance", "mixture", "questions"}


def register(cls: type["TaskDataModule"]) -> type["TaskDataModule"]:
    if not cls.name:
        raise TypeError(f"{cls.__name__} has no task name")
    if cls.name in _TASKS and _TASKS[cls.name] is not cls:
        raise TypeError(f"task name {cls.name!r} registered twice ({_TASKS[cls.name].__name__}, {cls.__name__})")
    _TASKS[cls.name] = cls
    return cls


def load_all() -> None:
    import datamodules

    for info in pkgutil.iter_modules(datamodules.__path__):
        if info.name not in _NOT_TASKS:
            importlib.import_module(f"datamodules.{info.name}")


def names() -> list[str]:
    load_all()
    return sorted(_TASKS)


def get(name: str) -> type["TaskDataModule"]:
    load_all()
    if name not in _TASKS:
        raise ValueError(f"unknown task {name!r}; valid tasks: {', '.join(sorted(_TASKS))}")
    return _TASKS[name]
