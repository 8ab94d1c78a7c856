"""The registered tasks: listing them, resolving short names, checking arguments."""

from __future__ import annotations

import inspect
import math
from collections.abc import Iterable
from types import NoneType
from typing import TYPE_CHECKING, Any

from project.bounds import MAX_NESTING
from project.errors import LIST_TASKS, InvalidInput, NotFound
from project.jobs.names import check_text

if TYPE_CHECKING:  # the config checks queue names here: importing it must not import Celery
    from celery import Celery, Task


def current_celery() -> Celery:
    """The Celery app of the current Flask app."""
    from flask import current_app  # here, so that checking a name (config, the CLI) needs no Flask

    celery: Celery = current_app.extensions["celery"]
    return celery


def registered_tasks() -> dict[str, Task]:
    """The application's own tasks by full name (Celery's built-in ``celery.*`` tasks left out)."""
    celery = current_celery()
    celery.loader.import_default_modules()
    return {name: task for name, task in sorted(celery.tasks.items()) if not name.startswith("celery.")}


def task_signature(task: Task) -> inspect.Signature:
    """The signature callers must match: the task function's, without ``self`` for bound tasks."""
    signature = inspect.signature(task.run, eval_str=True)
    return signature


def describe_tasks() -> list[dict[str, Any]]:
    """Each task as ``{name, short_name, signature, doc}``."""
    return [
        {
            "name": name,
            "short_name": name.rsplit(".", 1)[-1],
            "signature": str(task_signature(task)),
            "doc": (inspect.getdoc(task.run) or "").split("\n", 1)[0],
        }
        for name, task in registered_tasks().items()
    ]


def resolve_task(name: str) -> Task:
    """The task called ``name``, or whose last dotted part is ``name`` when that is unambiguous."""
    tasks = registered_tasks()
    if name in tasks:
        return tasks[name]
    matches = [full for full in tasks if full.rsplit(".", 1)[-1] == name]
    if len(matches) == 1:
        return tasks[matches[0]]
    if len(matches) > 1:
        raise InvalidInput(f"task name {name!r} is ambiguous: {', '.join(matches)}")
    raise NotFound(f"no task {name!r}", remedy=LIST_TASKS)


def check_arguments(task: Task, args: list[Any], kwargs: dict[str, Any]) -> None:
    """Raise InvalidInput unless ``args`` and ``kwargs`` fit the task's signature and are strict JSON."""
    check_signature(task, args, kwargs)
    check_json_values(args, kwargs)


def check_signature(task: Task, args: list[Any], kwargs: dict[str, Any]) -> None:
    """Raise InvalidInput unless ``args`` and ``kwargs`` bind to the task's signature.

    The verdict depends only on how many positional arguments there are and which keywords: the
    values are never looked at (``check_json_values`` does that).
    """
    signature = task_signature(task)
    try:
        signature.bind(*args, **kwargs)
    except TypeError as exc:
        short = task.name.rsplit(".", 1)[-1]
        raise InvalidInput(f"arguments do not fit {short}{signature}: {exc}") from None


def check_json_values(args: Iterable[Any], kwargs: dict[str, Any]) -> None:
    """Raise InvalidInput unless every argument is strict JSON, nested at most MAX_NESTING levels deep.

    Strict JSON: strings, whole numbers, finite numbers, true, false, null, lists and objects with
    string keys. Python also reads NaN, Infinity and 1e999 (as inf), which JSON does not have.
    Called for every job of a bulk send, so the common case (strings and whole numbers) is cheap.
    """
    pending = [(value, 1) for value in (*args, *kwargs.values()) if not _plain(value)]
    while pending:
        value, level = pending.pop()
        if isinstance(value, str):
            check_text(value, "argument")
            continue
        if isinstance(value, int | NoneType):  # bool is an int
            continue
        if isinstance(value, float):
            if not math.isfinite(value):
                raise InvalidInput("arguments must be finite numbers: JSON has no NaN or Infinity")
            continue
        if not isinstance(value, list | tuple | dict):
            raise InvalidInput(f"arguments must be JSON values, not {type(value).__name__} ({value!r:.40})")
        if level > MAX_NESTING:
            raise InvalidInput(f"arguments must be nested at most {MAX_NESTING} levels deep")
        if isinstance(value, dict):
            if not all(isinstance(key, str) for key in value):
                raise InvalidInput("arguments must be JSON values: object keys must be strings")
            pending.extend((key, level + 1) for key in value if not _plain(key))
            value = value.values()
        pending.extend((item, level + 1) for item in value if not _plain(item))


def _plain(value: Any) -> bool:
    """Nothing to look into: a whole number, or an ASCII string (the values most arguments are)."""
    kind = type(value)
    return kind is int or (kind is str and value.isascii())


class ArgumentChecker:
    """Checks arguments as ``check_arguments`` does, for many jobs of one task: the signature once per
    shape (how many positional arguments, which keywords), the values every time."""

    def __init__(self, task: Task) -> None:
        self.task = task
        self.verdicts: dict[tuple[int, frozenset[str]], str | None] = {}

    def check(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Raise InvalidInput unless ``args`` and ``kwargs`` fit the task and are strict JSON."""
        shape = (len(args), frozenset(kwargs))
        if shape not in self.verdicts:
            try:
                check_signature(self.task, list(args), kwargs)
                self.verdicts[shape] = None
            except InvalidInput as exc:
                self.verdicts[shape] = exc.message
        verdict = self.verdicts[shape]
        if verdict is not None:
            raise InvalidInput(verdict)
        check_json_values(args, kwargs)
