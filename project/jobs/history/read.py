"""Reading the job history: listing it, one job's status, whether an id is known, live workers."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from project.errors import NotFound
from project.failures import reason
from project.jobs.history.select import JobFilter, Selection, job_chunks, job_conditions
from project.jobs.history.values import LIVE_STATES, utcnow
from project.jobs.history.write import current_writer
from project.jobs.history.write_driver import TIME_COLUMNS, read_row

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement, Connection, RowMapping

logger = logging.getLogger("appctl.history")

FIELDS = (
    "id",
    "name",
    "state",
    "args",
    "kwargs",
    "queue",
    "sent_at",
    "started_at",
    "finished_at",
    "worker",
    "retries",
    "result",
    "error",
    "revoked_at",
    "eta",
    "expires",
    "retry_of",
    "retried_by",
    "schedule",
)
BRIEF_FIELDS = ("id", "name", "state", "queue", "sent_at", "error")  # a job in a bulk action's output
BRIEF_COLUMNS = ("id", "name", "state", "queue", "sent_at", "error_type", "error_message")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def job_record(row: Mapping[Any, Any]) -> dict[str, Any]:
    """A history row as plain data (times as ISO 8601 UTC, the error as ``Type: message``)."""
    record = {name: row[name] for name in FIELDS if name in row}
    for name in TIME_COLUMNS:
        if name in row:
            record[name] = _iso(row[name])
    if "error_type" in row:
        error = ": ".join(part for part in (row["error_type"], row["error_message"]) if part)
        record["error"] = error or None
    return record


def list_history(
    selection: JobFilter | None = None, limit: int | None = 100, scheduled: bool = False, schedule: str | None = None
) -> Iterator[dict[str, Any]]:
    """The jobs ``selection`` selects (every job by default), newest first, at most ``limit``.

    ``scheduled``: only jobs not yet due (an eta still ahead, not finished), the soonest due first.
    ``schedule``: only the runs of that schedule (``replace(selection, schedule=…)`` says the same).
    The first chunk is read before this returns, so a database failure is raised here, not after
    the caller has started printing.
    """
    selection = selection or JobFilter()
    if schedule is not None:
        selection = replace(selection, schedule=schedule)
    if scheduled:
        return _scheduled(selection, limit)
    chunks = job_chunks(selection, None, newest_first=True, limit=limit)
    first = next(chunks, [])
    return (job_record(row) for chunk in itertools.chain([first], chunks) for row in chunk)


def _scheduled(selection: JobFilter, limit: int | None) -> Iterator[dict[str, Any]]:
    """The jobs not yet due, soonest first, streamed (the query runs before this returns)."""
    from sqlalchemy import select

    from project.extensions import STREAM_BATCH, db
    from project.jobs.history.models import jobs

    query = select(jobs).where(*not_yet_due(), *job_conditions(selection)).order_by(jobs.c.eta, jobs.c.id)
    conn = db.engine.connect()
    try:
        rows = conn.execute(query.limit(limit).execution_options(yield_per=STREAM_BATCH)).mappings()
    except Exception:
        conn.close()
        raise
    return _records(conn, rows)


def _records(conn: Connection, rows: Iterator[RowMapping]) -> Iterator[dict[str, Any]]:
    with conn:
        for row in rows:
            yield job_record(row)


def not_yet_due() -> tuple[ColumnElement[bool], ...]:
    """Conditions on ``jobs`` of a job waiting for its eta: the eta ahead of now, the job not finished."""
    from project.jobs.history.models import jobs

    return jobs.c.eta > utcnow(), jobs.c.state.in_(LIVE_STATES)


def find_job(task_id: str) -> dict[str, Any] | None:
    """The history record of ``task_id``, or None."""
    history = current_writer()
    rows = history.query("SELECT * FROM jobs WHERE id = :id", {"id": task_id})
    return job_record(read_row(history.dialect, rows[0])) if rows else None


UNREADABLE: dict[str, Any] = {}  # what ``known_job`` returns when the history cannot be read


def known_job(task_id: str) -> dict[str, Any] | None:
    """The history's record of ``task_id`` (None: never sent); UNREADABLE, with a warning, when the
    history cannot be read (then we cannot tell)."""
    try:
        return find_job(task_id)
    except Exception as exc:
        logger.warning("cannot read the job history, so %s may never have been sent: %s", task_id, reason(exc))
        return UNREADABLE


def not_in_history(*task_ids: str) -> NotFound:
    """The error for ids the history does not hold (whatever the result backend knows of them)."""
    hint = "ids sent from outside this app are recorded once a worker of this app has started them"
    if len(task_ids) == 1:
        return NotFound(f"job {task_ids[0]!r} is not in the job history", hint=hint)
    return NotFound(f"jobs {', '.join(task_ids)} are not in the job history", hint=hint)


def never_sent(*task_ids: str) -> NotFound:
    """The error for ids neither the history nor the result backend knows (a job waiting in the broker
    unrecorded, sent from outside or while the history could not be written, is one of them)."""
    hint = (
        "a job sent from outside this app, or while its history could not be written, is known once a worker starts it"
    )
    if len(task_ids) == 1:
        return NotFound(f"no job {task_ids[0]!r} is known to the job history or the result backend", hint=hint)
    return NotFound(
        f"no job is known to the job history or the result backend with ids {', '.join(task_ids)}", hint=hint
    )


def active_workers(broker: str | None = None) -> list[dict[str, Any]]:
    """Workers whose heartbeat has not expired: name, pid, queues, broker (None: not said), active job ids,
    times; given ``broker`` (``heartbeat.broker_identity``), only the workers on it or not saying."""
    from sqlalchemy import select

    from project.extensions import db
    from project.jobs.history.models import heartbeats

    query = select(heartbeats).where(heartbeats.c.expires_at > utcnow()).order_by(heartbeats.c.hostname)
    if broker is not None:
        query = query.where(heartbeats.c.broker.is_(None) | (heartbeats.c.broker == broker))
    with db.engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return [
        {
            "name": row["hostname"],
            "pid": row["pid"],
            "queues": row["queues"] or [],
            "broker": row["broker"],
            "active": row["active"] or [],
            "started_at": _iso(row["started_at"]),
            "last_seen": _iso(row["last_seen"]),
        }
        for row in rows
    ]


def selected_jobs(selection: Selection) -> Iterator[list[dict[str, Any]]]:
    """The jobs of ``selection``, oldest first, in chunks of brief records (``BRIEF_FIELDS``)."""
    for chunk in selection.chunks(BRIEF_COLUMNS):
        yield [job_record(row) for row in chunk]
