"""Watching jobs until they finish: each change of their status, as it is seen, within a bound."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

from project.errors import TimedOut
from project.jobs.history.values import FINISHED_STATES
from project.jobs.names import check_task_id
from project.jobs.results import job_status, job_statuses

WATCH_INTERVAL = 0.25  # seconds between two reads of the jobs still running


def watch_jobs(task_ids: Sequence[str], timeout: float) -> Iterator[list[dict[str, Any]]]:
    """The jobs' statuses now, then each job whose status changed, until every job has finished.

    NotFound at once (nothing yielded) for an id never sent; TimedOut when ``timeout`` seconds pass first.
    """
    for task_id in task_ids:
        check_task_id(task_id)
    deadline = time.monotonic() + timeout
    records, unknown = job_statuses(list(dict.fromkeys(task_ids)))
    if unknown:
        raise unknown
    yield records
    latest = {record["id"]: record for record in records}
    while running := [task_id for task_id, record in latest.items() if record["state"] not in FINISHED_STATES]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimedOut(f"timed out after {timeout:g}s watching {', '.join(running)}")
        time.sleep(min(WATCH_INTERVAL, remaining))
        changed = [record for record in map(job_status, running) if record != latest[record["id"]]]
        if changed:
            latest.update((record["id"], record) for record in changed)
            yield changed
