"""The job history's one writer, as the application sees it: jobs sent, and each job's course in a worker.

Each factory registers one writer in ``app.extensions[HISTORY]`` (project/__init__.py): the ORM's
(project/jobs/history/write_orm.py) or, in the publisher app, the database driver's
(project/jobs/history/write_driver.py). Both take the same rows, so no caller asks which it has.
A worker batches its rows (project/jobs/history/buffer.py) and writes each batch through it;
a reader that finds the history behind the result backend writes the backend's outcome through it.
This module imports no SQLAlchemy: ``task send`` records through it.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from flask import current_app, has_app_context

from project.failures import is_disk_full, reason, unavailable
from project.interrupts import interrupts_held
from project.jobs.history.values import sent_row, utcnow

HISTORY = "appctl.history"  # the app.extensions key of the app's history writer
logger = logging.getLogger("appctl.history")


class HistoryWriter(Protocol):
    """Records jobs sent and their course; each call is one statement in one transaction.

    The unique send (project/jobs/unique.py) takes its key through the same writer: the row goes in
    first, and only while no unfinished job holds its ``unique_key`` (index ix_jobs_unique_key_live).
    """

    dialect: str  # the database: sqlite, postgresql

    def query(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """The rows of a SELECT written with ``:name`` parameters, as the driver returns them (``read_row``
        turns one into what the ORM reads); one short transaction."""
        ...

    def record_sent(self, rows: Sequence[dict[str, Any]]) -> None:
        """Jobs sent (``values.sent_row``); a job a worker recorded first keeps what it recorded."""

    def record_retries(self, rows: Sequence[dict[str, Any]]) -> None:
        """Copies sent (sent rows with ``retry_of``), each original marked retried by its copy: one transaction."""

    def record_progress(self, rows: Sequence[dict[str, Any]], behind_only: bool = False) -> None:
        """Jobs started or finished (``values.progress_row``, one row per job). A start does not
        overwrite a job revoked in the history; ``behind_only``: only rows not yet finished change."""

    def revoked(self, task_id: str) -> bool:
        """Whether the history marks the job revoked (a worker then skips it)."""

    def claim(self, row: dict[str, Any]) -> bool:
        """Insert ``row`` (a sent row with ``unique_key``) unless an unfinished job holds its key; True if inserted."""
        ...

    def holder(self, unique_key: str) -> dict[str, Any] | None:
        """``{id, state, sent_at}`` of the unfinished job holding ``unique_key``, or None."""
        ...

    def give_key(self, task_id: str, unique_key: str) -> bool:
        """Set the job's ``unique_key`` unless an unfinished job holds it; False when one does."""
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
        logger.warning(message, what, shown, _why(exc))


def _why(exc: Exception) -> str:
    """Why the history could not be written: the driver's reason, or a full disk said so."""
    url = current_app.config.get("DATABASE_URL") if has_app_context() else None
    if url and is_disk_full(exc, url):  # SQLite in WAL mode says only "disk I/O error"
        return unavailable("database", url, exc).message
    return reason(exc)


def record_sent_rows(rows: Sequence[dict[str, Any]]) -> None:
    """Record ``rows`` through the current app's writer; a failure is a warning, not an error."""
    if rows:
        with history_guard("sending", [row["id"] for row in rows]):
            current_writer().record_sent(rows)


def record_retries(rows: Sequence[dict[str, Any]]) -> None:
    """Record copies sent and link them to their originals (``HistoryWriter.record_retries``); a failure is
    a warning naming the originals: the broker has the copies."""
    if rows:
        with history_guard("retry", [row["retry_of"] for row in rows]):
            current_writer().record_retries(rows)


def current_writer() -> HistoryWriter:
    """The current app's history writer."""
    writer: HistoryWriter = current_app.extensions[HISTORY]
    return writer


def record_sent(jobs: Iterable[Any], state: str = "PENDING", schedule: str | None = None) -> None:
    """Record, in one insert, jobs the broker has accepted (each with id, name, args, kwargs, queue,
    eta, expires); ``state`` UNKNOWN for jobs it may or may not have; ``schedule``: they are its runs."""
    record_sent_rows(sent_rows(jobs, state, schedule))


def sent_rows(jobs: Iterable[Any], state: str = "PENDING", schedule: str | None = None) -> list[dict[str, Any]]:
    """The history rows of jobs the broker took at once (one ``sent_at`` for them all)."""
    sent_at = utcnow()
    return [
        sent_row(
            job.id,
            job.name,
            list(job.args),
            job.kwargs,
            job.queue,
            sent_at,
            state,
            eta=job.eta,
            expires=job.expires,
            schedule=schedule,
        )
        for job in jobs
    ]


class RecordingBehind:
    """Records the batches of a bulk send in a thread of its own, in order, while the next ones are published.

    A batch's insert and commit (about a third of a fan-out's work on SQLite) then overlap the
    publishing of the next batch instead of adding to it; batches handed over while a commit waits
    for the disk are recorded together, in one insert. ``record`` returns an event set once the
    batch is recorded (or its write failed, which is a warning, as with ``record_sent``); ``close``
    waits until every batch handed over is recorded. Each write is bounded by the database's own
    timeouts.
    """

    def __init__(self, write: Callable[[list[dict[str, Any]]], None] = record_sent_rows) -> None:
        self.write = write  # records rows handed over, warning instead of raising (``record_sent_rows``)
        self.app = current_app._get_current_object()  # type: ignore[attr-defined]
        self.batches: queue.SimpleQueue[tuple[list[dict[str, Any]], threading.Event] | None] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._record, name="appctl-history", daemon=True)
        self.thread.start()

    def record(self, rows: list[dict[str, Any]]) -> threading.Event:
        """Hand over the history rows of jobs the broker has accepted (``sent_rows``)."""
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
            closing = False
            while not closing:
                # The batches handed over while the last commit waited for the disk go in one insert.
                waiting = [self.batches.get()]
                while not self.batches.empty():
                    waiting.append(self.batches.get())
                closing = waiting[-1] is None
                batches = [batch for batch in waiting if batch is not None]
                try:
                    self.write([row for rows, _ in batches for row in rows])
                finally:
                    for _, recorded in batches:
                        recorded.set()
