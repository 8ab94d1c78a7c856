"""The job history's values (states, sent rows, bounded JSON, errors), computed without SQLAlchemy."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

RESULT_LIMIT = 8192  # bytes of JSON kept per value; the result backend keeps the whole result
PREVIEW_LENGTH = 500
ERROR_LIMIT = 2000
# The state of a job whose sending failed with the broker's answer lost: it may or may not be
# queued. A worker that runs it records STARTED over it; one never queued stays UNKNOWN.
UNKNOWN = "UNKNOWN"
FINISHED_STATES = ("SUCCESS", "FAILURE", "REVOKED")
LIVE_STATES = ("PENDING", UNKNOWN, "STARTED", "RETRY")  # not finished: a unique key stays taken
STATES = (*LIVE_STATES, *FINISHED_STATES)


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def bounded_json(value: Any, limit: int = RESULT_LIMIT) -> Any:
    """``value`` when its JSON fits in ``limit`` bytes, else ``{truncated, bytes, preview}``."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        value = repr(value)
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
