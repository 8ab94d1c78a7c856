"""Polling helpers for tests that watch a real worker change the job history."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def wait_for(probe: Callable[[], T | None], timeout: float = 120, what: str = "condition") -> T:
    """Call ``probe`` until it returns something truthy (returned) or ``timeout`` seconds pass (fail).

    The pause between calls doubles from 50 ms up to one second: many probes run an ``appctl``
    process, and a long wait would otherwise start one after another on a machine already loaded.
    """
    deadline = time.monotonic() + timeout
    pause = 0.05
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(pause)
        pause = min(1.0, pause * 2)


def job_in_state(task_id: str, *states: str) -> Callable[[], dict[str, Any] | None]:
    """A probe: the history record of ``task_id`` once it is in one of ``states``."""
    from project.jobs.history.read import find_job

    def probe() -> dict[str, Any] | None:
        record = find_job(task_id)
        return record if record is not None and record["state"] in states else None

    return probe


def run_recorded(task_id: str, *states: str) -> Callable[[], dict[str, Any] | None]:
    """A probe: the record of ``task_id`` once the worker's own rows are in (in one of ``states``, with
    its start time, which a reader that made the history good from the result backend cannot know)."""
    in_state = job_in_state(task_id, *states)

    def probe() -> dict[str, Any] | None:
        record = in_state()
        return record if record is not None and record["started_at"] else None

    return probe
