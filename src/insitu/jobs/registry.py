"""Task names to functions; modules declaring tasks are imported on first lookup."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

TaskFunction = Callable[..., Any]

# Every module that declares tasks; workers import them all before running anything.
TASK_MODULES = (
    "insitu.imports.tasks",
    "insitu.reconcile.tasks",
    "insitu.webhooks.tasks",
    "insitu.connections.tasks",
    "insitu.watch.tasks",
)

_tasks: dict[str, TaskFunction] = {}


def task(name: str) -> Callable[[TaskFunction], TaskFunction]:
    """Register a function as the task called ``name``."""

    def register(function: TaskFunction) -> TaskFunction:
        _tasks[name] = function
        return function

    return register


def get_task(name: str) -> TaskFunction:
    if name not in _tasks:
        for module in TASK_MODULES:
            importlib.import_module(module)
    try:
        return _tasks[name]
    except KeyError:
        raise LookupError(f"no task named {name!r}") from None


def run_task(name: str, args: dict[str, Any]) -> Any:
    """Run a task now, in this thread."""
    return get_task(name)(**args)
