"""The job history's one writer, as the application sees it: what was sent, recorded without failing the send.

Each factory registers one writer in ``app.extensions[HISTORY]`` (project/__init__.py): the ORM's
(project/jobs/history/write_orm.py) or, in the publisher app, the database driver's
(project/jobs/history/write_driver.py). Both take the same rows, so no caller asks which it has.
This module imports no SQLAlchemy: ``task send`` records through it.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from flask import current_app

from project.failures import reason
from project.interrupts import interrupts_held
from project.jobs.history.values import sent_row, utcnow

HISTORY = "appctl.history"  # the app.extensions key of the app's history writer
logger = logging.getLogger("appctl.history")


class HistoryWriter(Protocol):
    """Records jobs sent: rows from ``values.sent_row``, in one transaction."""

    def record_sent(self, rows: Sequence[dict[str, Any]]) -> None: ...

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


def record_sent(jobs: Iterable[Any], state: str = "PENDING") -> None:
    """Record, in one insert, jobs the broker has accepted (each with id, name, args, kwargs, queue);
    ``state`` UNKNOWN for jobs it may or may not have."""
    sent_at = utcnow()  # one moment for the batch the broker took at once
    rows = [sent_row(job.id, job.name, list(job.args), job.kwargs, job.queue, sent_at, state) for job in jobs]
    record_sent_rows(rows)


class RecordingBehind:
    """Records the batches of a bulk send in a thread of its own, in order, while the next batch is published.

    A batch's insert and commit (about a third of a fan-out's work on SQLite) then overlap the
    publishing of the next batch instead of adding to it. ``record`` returns an event set once the
    batch is recorded (or its write failed, which is a warning, as with ``record_sent``); ``close``
    waits until every batch handed over is recorded. Each write is bounded by the database's own
    timeouts.
    """

    def __init__(self) -> None:
        self.app = current_app._get_current_object()  # type: ignore[attr-defined]
        self.batches: queue.SimpleQueue[tuple[list[dict[str, Any]], threading.Event] | None] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._record, name="appctl-history", daemon=True)
        self.thread.start()

    def record(self, jobs: Iterable[Any]) -> threading.Event:
        """Hand over jobs the broker has accepted (each with id, name, args, kwargs, queue)."""
        sent_at = utcnow()
        rows = [sent_row(job.id, job.name, list(job.args), job.kwargs, job.queue, sent_at) for job in jobs]
        recorded = threading.Event()
        self.batches.put((rows, recorded))
        return recorded

    def close(self) -> None:
        """Wait until every batch handed over is recorded (Ctrl-C held back meanwhile)."""
        self.batches.put(None)
        with interrupts_held():
            self.thread.join()

    def _record(self) -> None:
        with self.app.app_context():  # its teardown closes this thread's database connection
            while (batch := self.batches.get()) is not None:
                rows, recorded = batch
                try:
                    record_sent_rows(rows)
                finally:
                    recorded.set()
