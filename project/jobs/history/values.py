"""The job history's values (states, sent rows, bounded JSON, errors), computed without SQLAlchemy."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from project.json_text import finite_json, json_text

RESULT_LIMIT = 8192  # bytes of JSON kept per value; the result backend keeps the whole result
PREVIEW_LENGTH = 500
ERROR_LIMIT = 2000
# The state of a job whose sending failed with the broker's answer lost: it may or may not be
# queued. A worker that runs it records STARTED over it; one never queued stays UNKNOWN.
UNKNOWN = "UNKNOWN"
PURGED = "purged"  # the revoked_reason of a job purged from its queue: no message of it is left to run
DISCARDED = "discarded"  # the revoked_reason of a revoked job a worker took and dropped: none is left either
FINISHED_STATES = ("SUCCESS", "FAILURE", "REVOKED")
LIVE_STATES = ("PENDING", UNKNOWN, "STARTED", "RETRY")  # not finished: a unique key stays taken
STATES = (*LIVE_STATES, *FINISHED_STATES)


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def bounded_json(value: Any, limit: int = RESULT_LIMIT) -> Any:
    """``value`` when its JSON fits in ``limit`` bytes, else ``{truncated, bytes, preview}``."""
    try:
        escaped = json_text(value)
    except (TypeError, ValueError):
        value = repr(value)
        escaped = json_text(value)
    if "Infinity" in escaped or "NaN" in escaped:  # not JSON: PostgreSQL's json refuses it
        value = finite_json(value)
        escaped = json_text(value)
    if len(escaped) <= limit:  # \u escapes are never shorter than the UTF-8 they stand for
        return value
    text = json.dumps(value, ensure_ascii=False)
    size = len(text.encode())
    if size <= limit:
        return value
    return {"truncated": True, "bytes": size, "preview": text[:PREVIEW_LENGTH]}


def sent_row(
    task_id: str,
    name: str,
    args: Any,
    kwargs: Any,
    queue: str | None,
    sent_at: datetime | None = None,
    state: str = "PENDING",
    *,
    eta: datetime | None = None,
    expires: datetime | None = None,
    retry_of: str | None = None,
    schedule: str | None = None,
) -> dict[str, Any]:
    """The history row for a job just published (``state`` UNKNOWN: perhaps published).

    ``eta``: not run before then; ``expires``: discarded if not started by then; ``retry_of``: the
    job this one sends again (``task retry``, ``task run-now``); ``schedule``: the schedule it is a run of.
    """
    row = {
        "id": task_id,
        "state": state,
        "name": name,
        "args": bounded_json(args),
        "kwargs": bounded_json(kwargs),
        "queue": queue,
        "sent_at": sent_at or utcnow(),
        "eta": eta,
        "expires": expires,
        "retry_of": retry_of,
    }
    if schedule is not None:  # only then: the database driver's writer knows the columns of plain sends
        row["schedule"] = schedule
    return row


def is_truncated(value: Any) -> bool:
    """Whether ``value`` is what ``bounded_json`` keeps of a value too large to store."""
    return (
        isinstance(value, dict) and value.get("truncated") is True and set(value) == {"truncated", "bytes", "preview"}
    )


def error_fields(exc: BaseException | None) -> dict[str, Any]:
    """``error_type`` and ``error_message`` columns for ``exc`` (the message bounded)."""
    if exc is None:
        return {}
    return {"error_type": type(exc).__name__, "error_message": str(exc)[:ERROR_LIMIT]}


# The columns of a worker's rows (``progress_row``): every row carries all of them, so a batch is one statement.
PROGRESS_COLUMNS = (
    "id",
    "state",
    "name",
    "args",
    "kwargs",
    "queue",
    "sent_at",
    "started_at",
    "finished_at",
    "result",
    "error_type",
    "error_message",
    "worker",
    "retries",
    "revoked_at",
    "revoked_reason",  # DISCARDED from a worker; kept as it was unless given
)


def progress_row(task_id: str, state: str, retries: int, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    """A job's row as a worker (or a reader that found the history behind) records its course.

    STARTED clears the outcome of an earlier run; a finished state gets ``finished_at`` (now unless
    given). ``sent_at`` is kept only when the row is new: a job sent from outside the app.
    """
    now = utcnow()
    row: dict[str, Any] = {"id": task_id, "state": state, "sent_at": now, "retries": retries}
    if state == "STARTED":
        row.update(started_at=now, finished_at=None, result=None, error_type=None, error_message=None)
    row.update(fields or {})
    if state in FINISHED_STATES and row.get("finished_at") is None:
        row["finished_at"] = now
    return row


def backend_outcome(known: dict[str, Any]) -> dict[str, Any]:
    """The history columns of a finished job as the result backend reports it (``results.job_state``)."""
    error_type, _, error_message = (known["error"] or "").partition(": ")
    finished_at = known["finished_at"]
    return {
        "finished_at": datetime.fromisoformat(finished_at).astimezone(UTC) if finished_at else None,
        "result": bounded_json(known["result"]) if known["state"] == "SUCCESS" else None,
        "error_type": error_type or None,
        "error_message": error_message[:ERROR_LIMIT] or None,
    }


def merge_progress(earlier: dict[str, Any], later: dict[str, Any]) -> dict[str, Any]:
    """One row for two events of the same job (a start and its outcome): the later one wins, the
    earlier one's fields that the later one does not set (the start's time, name, arguments) stay."""
    return {**earlier, **later, "sent_at": earlier["sent_at"]}


def complete_progress(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with every column of PROGRESS_COLUMNS (None where it says nothing)."""
    return {name: row.get(name) for name in PROGRESS_COLUMNS}
