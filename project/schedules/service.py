"""The schedules: add, list, show, update, enable, disable, delete and trigger (one run now)."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from project.errors import LIST_SCHEDULES, Conflict, FateUnknown, InvalidInput, NotFound
from project.extensions import db
from project.jobs.history.models import jobs
from project.jobs.history.values import utcnow
from project.jobs.names import check_queue_name
from project.jobs.registry import check_arguments, resolve_task
from project.jobs.send import send_job
from project.readable import invisible_part
from project.schedules.models import schedules
from project.schedules.timing import (
    check_cron,
    check_every,
    describe_cron,
    describe_interval,
    format_interval,
    next_cron_run,
    next_interval_run,
    zone,
)

NAME_MAX = 255
FIELDS = (
    "name",
    "task",
    "args",
    "kwargs",
    "spec",
    "timezone",
    "description",
    "queue",
    "enabled",
    "next_run_at",
    "last_run_at",
    "last_job_id",
    "last_state",
)


def schedule_name(name: str) -> str:
    """``name`` as schedules are stored and found: in NFC, so ``é`` typed as one character or two is one name."""
    return name if name.isascii() else unicodedata.normalize("NFC", name)


def check_name(name: str) -> str:
    """``name`` (in NFC) when it can name a schedule: 1-255 printable characters, no spaces."""
    name = schedule_name(name)
    if not name or len(name) > NAME_MAX or any(c.isspace() or not c.isprintable() for c in name):
        raise InvalidInput(f"schedule name {name!r} must be 1 to {NAME_MAX} printable characters without spaces")
    if unreadable := invisible_part(name):
        raise InvalidInput(f"schedule name {name!r} {unreadable}")
    return name


def next_run(row: Any, after: datetime) -> datetime:
    """When the schedule ``row`` (a mapping) runs next, strictly after ``after``."""
    if row["cron"] is not None:
        return next_cron_run(row["cron"], zone(row["timezone"]), after)
    return next_interval_run(row["anchor"], row["every"], after)


def _timing(cron: str | None, every: float | None, timezone: str) -> dict[str, Any]:
    """The checked spec columns: exactly one of a cron spec and an interval, and a zone."""
    if (cron is None) == (every is None):
        raise InvalidInput("give a cron spec or an interval (every), not both and not neither")
    zone(timezone)
    return {
        "cron": check_cron(cron) if cron is not None else None,
        "every": check_every(every) if every is not None else None,
        "timezone": timezone,
    }


def _checked_job(task: str, args: list[Any], kwargs: dict[str, Any], queue: str | None) -> dict[str, Any]:
    """The job columns, the arguments checked against the task's signature as ``task send`` checks them."""
    found = resolve_task(task)
    check_arguments(found, args, kwargs)
    check_queue_name(queue)
    return {"task": found.name, "args": list(args), "kwargs": dict(kwargs), "queue": queue}


def add_schedule(
    name: str,
    task: str,
    args: list[Any],
    kwargs: dict[str, Any],
    *,
    cron: str | None = None,
    every: float | None = None,
    timezone: str = "UTC",
    queue: str | None = None,
    enabled: bool = True,
) -> dict[str, Any]:
    """Create the schedule ``name``; Conflict when one of that name exists."""
    now = utcnow()
    row = {
        "name": check_name(name),
        **_checked_job(task, args, kwargs, queue),
        **_timing(cron, every, timezone),
        "enabled": enabled,
        "anchor": now,
        "created_at": now,
        "updated_at": now,
    }
    row["next_run_at"] = next_run(row, now)
    try:
        with db.engine.begin() as conn:
            conn.execute(insert(schedules).values(row))
    except IntegrityError:
        raise Conflict(f"a schedule named {name!r} exists", hint="update it, or delete it first") from None
    return show_schedule(name)


def _query() -> Any:
    return (
        select(schedules, jobs.c.state.label("last_state"))
        .select_from(schedules.outerjoin(jobs, jobs.c.id == schedules.c.last_job_id))
        .order_by(schedules.c.name)
    )


def _record(row: Any) -> dict[str, Any]:
    """A schedule as plain data: the spec in words, times as ISO 8601 UTC, no next run while disabled."""
    spec = row["cron"] if row["cron"] is not None else f"every {format_interval(row['every'])}"
    described = describe_cron(row["cron"]) if row["cron"] is not None else describe_interval(row["every"])
    next_at = row["next_run_at"] if row["enabled"] else None
    return {
        "name": row["name"],
        "task": row["task"],
        "args": row["args"],
        "kwargs": row["kwargs"],
        "spec": spec,
        "timezone": row["timezone"],
        "description": described,
        "queue": row["queue"],
        "enabled": row["enabled"],
        "next_run_at": next_at.isoformat() if next_at else None,
        "last_run_at": row["last_run_at"].isoformat() if row["last_run_at"] else None,
        "last_job_id": row["last_job_id"],
        "last_state": row["last_state"],
    }


def list_schedules() -> list[dict[str, Any]]:
    """Every schedule, by name, with its next run and its last run's job and state."""
    with db.engine.connect() as conn:
        return [_record(row) for row in conn.execute(_query()).mappings()]


def _row(conn: Any, name: str) -> Any:
    row = conn.execute(_query().where(schedules.c.name == name)).mappings().first()
    if row is None:
        raise NotFound(f"no schedule {name!r}", remedy=LIST_SCHEDULES)
    return row


def show_schedule(name: str) -> dict[str, Any]:
    """The schedule ``name``; NotFound when there is none."""
    name = schedule_name(name)
    with db.engine.connect() as conn:
        return _record(_row(conn, name))


def update_schedule(name: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Change the given fields (task, args, kwargs, queue, cron, every, timezone); the beat sees it on its next tick.

    A new spec (or zone) sets the next run afresh from now; a new interval starts counting from now.
    """
    name = schedule_name(name)
    if not changes:
        raise InvalidInput("nothing to change: give a new task, arguments, spec, zone or queue")
    now = utcnow()
    with db.engine.begin() as conn:
        current = dict(_row(conn, name))
        row = {**current, **changes}
        if "every" in changes and changes["every"] is not None:
            row["cron"] = None
        if "cron" in changes and changes["cron"] is not None:
            row["every"] = None
        values = {
            **_checked_job(row["task"], row["args"] or [], row["kwargs"] or {}, row["queue"]),
            **_timing(row["cron"], row["every"], row["timezone"]),
            "updated_at": now,
        }
        if {"cron", "every", "timezone"} & set(changes):
            values["anchor"] = row["anchor"] = now if "every" in changes else current["anchor"]
            values["next_run_at"] = next_run({**row, **values}, now)
        conn.execute(update(schedules).where(schedules.c.name == name).values(values))
    return show_schedule(name)


def set_enabled(name: str, enabled: bool) -> dict[str, Any]:
    """Enable or disable ``name``. Enabling sets the next run from now: a disabled time is never caught up."""
    name = schedule_name(name)
    now = utcnow()
    with db.engine.begin() as conn:
        row = _row(conn, name)
        values: dict[str, Any] = {"enabled": enabled, "updated_at": now}
        if enabled and not row["enabled"]:
            values["next_run_at"] = next_run(row, now)
        conn.execute(update(schedules).where(schedules.c.name == name).values(values))
    return show_schedule(name)


def delete_schedule(name: str) -> dict[str, Any]:
    """Delete ``name`` and return what it was; its past runs stay in the job history."""
    name = schedule_name(name)
    record = show_schedule(name)
    with db.engine.begin() as conn:
        conn.execute(delete(schedules).where(schedules.c.name == name))
    return record


def send_run(row: Any) -> str:
    """Send one run of the schedule ``row`` through the normal send path; record it as its last run."""
    try:
        job_id = send_job(row["task"], row["args"] or [], row["kwargs"] or {}, queue=row["queue"], schedule=row["name"])
    except FateUnknown as exc:  # the broker may have it: the history holds it as a run, UNKNOWN until it runs
        _record_last_run(row["name"], exc.ids[0])
        raise
    _record_last_run(row["name"], job_id)
    return job_id


def _record_last_run(name: str, job_id: str) -> None:
    with db.engine.begin() as conn:
        values = {"last_run_at": utcnow(), "last_job_id": job_id}
        conn.execute(update(schedules).where(schedules.c.name == name).values(values))


def trigger_schedule(name: str) -> dict[str, Any]:
    """Run ``name`` now (enabled or not), as the beat would; its next run stays as it was."""
    name = schedule_name(name)
    with db.engine.connect() as conn:
        row = _row(conn, name)
    return {"id": send_run(row), "schedule": name}
