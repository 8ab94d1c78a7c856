"""The job history's one writer, as the application sees it: what was sent, recorded without failing the send.

Each factory registers one writer in ``app.extensions[HISTORY]`` (project/__init__.py): the ORM's
(project/jobs/history/write_orm.py) or, in the publisher app, the database driver's
(project/jobs/history/write_driver.py). Both take the same rows, so no caller asks which it has.
This module imports no SQLAlchemy: ``task send`` records through it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from flask import current_app

from project.failures import reason
from project.jobs.history.values import sent_row

HISTORY = "appctl.history"  # the app.extensions key of the app's history writer
logger = logging.getLogger("appctl.history")


class HistoryWriter(Protocol):
    """Records jobs sent: rows from ``values.sent_row``, in one transaction.

    The unique send (project/jobs/unique.py) takes its key through the same writer: the row goes in
    first, and only while no unfinished job holds its ``unique_key`` (index ix_jobs_unique_key_live).
    """

    def record_sent(self, rows: Sequence[dict[str, Any]]) -> None: ...

    def claim(self, row: dict[str, Any]) -> bool:
        """Insert ``row`` (a sent row with ``unique_key``) unless an unfinished job holds its key; True if inserted."""
        ...

    def holder(self, unique_key: str) -> dict[str, Any] | None:
        """``{id, state, sent_at}`` of the unfinished job holding ``unique_key``, or None."""
        ...

    def settle(self, task_id: str, states: Sequence[str], changes: dict[str, Any]) -> bool:
        """Apply ``changes`` to the job if it is in one of ``states``; True if it was."""
        ...

    def release(self, task_id: str, state: str) -> None:
        """Delete the job's row if it is still in ``state`` (a claim whose send the broker refused)."""
        ...

    def close(self, _exc: BaseException | None = None) -> None: ...


@contextmanager
def history_guard(what: str, task_ids: Sequence[str]) -> Iterator[None]:
    """Log a warning instead of raising when the history cannot be written: the job goes on."""
    try:
        yield
    except Exception as exc:
        shown = ", ".join(task_ids[:3]) + (f" and {len(task_ids) - 3} more" if len(task_ids) > 3 else "")
        message = "the job history did not record the %s of %s (the job goes on): %s"
        logger.warning(message, what, shown, reason(exc))


def record_sent_rows(rows: Sequence[dict[str, Any]]) -> None:
    """Record ``rows`` through the current app's writer; a failure is a warning, not an error."""
    if rows:
        with history_guard("sending", [row["id"] for row in rows]):
            writer: HistoryWriter = current_app.extensions[HISTORY]
            writer.record_sent(rows)


def record_sent(jobs: Iterable[Any], state: str = "PENDING", schedule: str | None = None) -> None:
    """Record, in one insert, jobs the broker has accepted (each with id, name, args, kwargs, queue,
    eta, expires); ``state`` UNKNOWN for jobs it may or may not have; ``schedule``: they are its runs."""
    record_sent_rows(
        [
            sent_row(
                job.id,
                job.name,
                list(job.args),
                job.kwargs,
                job.queue,
                state=state,
                eta=job.eta,
                expires=job.expires,
                schedule=schedule,
            )
            for job in jobs
        ]
    )
