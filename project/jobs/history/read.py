"""Reading the job history: listing it, one job's status, whether an id was ever sent, retention."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, RowMapping, delete, false, func, or_, select

from project.errors import InvalidInput, NotFound
from project.extensions import STREAM_BATCH, db
from project.failures import reason
from project.jobs.history.models import heartbeats, jobs
from project.jobs.history.values import LIVE_STATES, STATES, utcnow

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
)
TIME_FIELDS = ("sent_at", "started_at", "finished_at", "revoked_at", "eta", "expires")
NAME_MAX = 255  # the length of jobs.name
PRUNE_CHUNK = 5000  # rows per delete: short write transactions, so workers are not kept waiting


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def job_record(row: RowMapping) -> dict[str, Any]:
    """A history row as plain data (times as ISO 8601 UTC, the error as ``Type: message``)."""
    record = {name: row[name] for name in FIELDS if name in row}
    for name in TIME_FIELDS:
        record[name] = _iso(row[name])
    error = ": ".join(part for part in (row["error_type"], row["error_message"]) if part)
    record["error"] = error or None
    return record


def check_states(states: Sequence[str]) -> list[str]:
    """The states upper-cased; InvalidInput for one that is not a job state."""
    wanted = [state.upper() for state in states]
    unknown = [state for state in wanted if state not in STATES]
    if unknown:
        raise InvalidInput(f"unknown state {unknown[0]!r}; choose from {', '.join(STATES)}")
    return wanted


def list_history(
    states: Sequence[str] = (),
    name: str | None = None,
    since: datetime | None = None,
    limit: int | None = 100,
    scheduled: bool = False,
) -> Iterator[dict[str, Any]]:
    """Jobs newest first; ``name`` matches the full task name or its last dotted part.

    ``scheduled``: only jobs not yet due (an eta still ahead, not finished), the soonest due first.
    The query runs before this returns, so a bad filter or a database failure is raised here,
    not after the caller has started printing.
    """
    query = select(jobs).order_by(jobs.c.sent_at.desc(), jobs.c.id.desc()).limit(limit)
    if scheduled:
        query = query.where(*not_yet_due()).order_by(None).order_by(jobs.c.eta, jobs.c.id)
    if states:
        query = query.where(jobs.c.state.in_(check_states(states)))
    if name and len(name) > NAME_MAX:  # no task name is that long; SQLite would refuse the LIKE pattern
        query = query.where(false())
    elif name:
        query = query.where(or_(jobs.c.name == name, jobs.c.name.endswith("." + name, autoescape=True)))
    if since is not None:
        query = query.where(jobs.c.sent_at >= since)
    conn = db.engine.connect()
    try:
        rows = conn.execute(query.execution_options(yield_per=STREAM_BATCH)).mappings()
    except Exception:
        conn.close()
        raise
    return _records(conn, rows)


def not_yet_due() -> tuple[ColumnElement[bool], ...]:
    """Conditions on ``jobs`` of a job waiting for its eta: the eta ahead of now, the job not finished."""
    return jobs.c.eta > utcnow(), jobs.c.state.in_(LIVE_STATES)


def _records(conn: Connection, rows: Iterator[RowMapping]) -> Iterator[dict[str, Any]]:
    with conn:
        for row in rows:
            yield job_record(row)


def find_job(task_id: str) -> dict[str, Any] | None:
    """The history record of ``task_id``, or None."""
    with db.engine.connect() as conn:
        row = conn.execute(select(jobs).where(jobs.c.id == task_id)).mappings().first()
    return job_record(row) if row is not None else None


def is_known(task_id: str) -> bool:
    """Whether the history has ``task_id``; True when the history cannot be read (we cannot tell)."""
    try:
        return find_job(task_id) is not None
    except Exception as exc:
        logger.warning("cannot read the job history, so %s may never have been sent: %s", task_id, reason(exc))
        return True


def never_sent(*task_ids: str) -> NotFound:
    """The error for ids neither the history nor the result backend knows."""
    hint = "ids sent from outside this app are known only once a worker has started them"
    if len(task_ids) == 1:
        return NotFound(f"no job {task_ids[0]!r} was ever sent", hint=hint)
    return NotFound(f"no job was ever sent with ids {', '.join(task_ids)}", hint=hint)


def prune_history(older_than: timedelta, dry_run: bool = False) -> dict[str, Any]:
    """Delete jobs sent before now - ``older_than`` (and heartbeats of workers gone that long)."""
    cutoff = utcnow() - older_than
    old = jobs.c.sent_at < cutoff
    if dry_run:
        with db.engine.connect() as conn:
            count = conn.scalar(select(func.count()).select_from(jobs).where(old)) or 0
        return {"deleted": 0, "would_delete": count, "before": cutoff.isoformat()}
    deleted = 0
    while True:
        chunk = select(jobs.c.id).where(old).limit(PRUNE_CHUNK).scalar_subquery()
        with db.engine.begin() as conn:
            removed = conn.execute(delete(jobs).where(jobs.c.id.in_(chunk))).rowcount
        deleted += removed
        if removed < PRUNE_CHUNK:
            break
    with db.engine.begin() as conn:
        conn.execute(delete(heartbeats).where(heartbeats.c.expires_at < cutoff))
    return {"deleted": deleted, "would_delete": None, "before": cutoff.isoformat()}


def active_workers() -> list[dict[str, Any]]:
    """Workers whose heartbeat has not expired: name, pid, queues, active job ids, times."""
    query = select(heartbeats).where(heartbeats.c.expires_at > utcnow()).order_by(heartbeats.c.hostname)
    with db.engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return [
        {
            "name": row["hostname"],
            "pid": row["pid"],
            "queues": row["queues"] or [],
            "active": row["active"] or [],
            "started_at": _iso(row["started_at"]),
            "last_seen": _iso(row["last_seen"]),
        }
        for row in rows
    ]
