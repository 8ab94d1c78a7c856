"""Selecting jobs from the history: one filter for every listing and bulk action, read in chunks.

Chunks are read by keyset on ``(sent_at, id)``, each in a short query of its own, so a selection
of any size costs one chunk of memory and holds no read transaction open while its jobs are acted on.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, Text, cast, false, func, or_, select

from project.errors import InvalidInput
from project.extensions import db
from project.jobs.history.models import jobs
from project.jobs.history.values import ERROR_LIMIT, RESULT_LIMIT, STATES, utcnow

SELECT_CHUNK = 1000  # jobs per chunk: one query, and one batch of a bulk action
NAME_MAX = 255  # the length of jobs.name, jobs.queue, jobs.retry_of
ERROR_TEXT_MAX = NAME_MAX + 2 + ERROR_LIMIT  # "Type: message" as the history keeps it


def check_states(states: Sequence[str]) -> tuple[str, ...]:
    """The states upper-cased; InvalidInput for one that is not a job state."""
    wanted = tuple(state.upper() for state in states)
    unknown = [state for state in wanted if state not in STATES]
    if unknown:
        raise InvalidInput(f"unknown state {unknown[0]!r}; choose from {', '.join(STATES)}")
    return wanted


@dataclass(frozen=True)
class JobFilter:
    """Which jobs: each field given narrows the selection; none given selects every job.

    ``name`` is a full task name or its last dotted part; ``since``/``until`` bound ``sent_at``
    (``until`` excluded); ``error`` and ``args`` are substrings, in any case, of the error
    (``Type: message``) and of the JSON of the args or kwargs.
    """

    states: tuple[str, ...] = ()
    name: str | None = None
    queue: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    error: str | None = None
    args: str | None = None
    retry_of: str | None = None
    schedule: str | None = None  # the runs of this schedule (``task history --schedule``)

    def __post_init__(self) -> None:
        object.__setattr__(self, "states", check_states(self.states))

    @property
    def is_empty(self) -> bool:
        """Whether no field narrows the selection."""
        return self == JobFilter()

    def sent_before(self, moment: datetime) -> JobFilter:
        """This filter, further limited to jobs sent before ``moment``."""
        return replace(self, until=moment if self.until is None else min(self.until, moment))


def job_conditions(selection: JobFilter) -> list[ColumnElement[bool]]:
    """The WHERE clauses of ``selection``: the one query builder of every reader and bulk action."""
    c = jobs.c
    conditions: list[ColumnElement[bool]] = []
    if selection.states:
        conditions.append(c.state.in_(selection.states))
    if selection.name is not None:
        conditions.append(_name_is(selection.name))
    for column, value in (
        (c.queue, selection.queue),
        (c.retry_of, selection.retry_of),
        (c.schedule, selection.schedule),
    ):
        if value is not None:
            conditions.append(column == value if len(value) <= NAME_MAX else false())
    if selection.since is not None:
        conditions.append(c.sent_at >= selection.since)
    if selection.until is not None:
        conditions.append(c.sent_at < selection.until)
    if selection.error is not None:
        conditions.append(_contains(_error_text(), selection.error, ERROR_TEXT_MAX))
    if selection.args is not None:
        needles = _json_forms(selection.args)
        texts = (cast(c.args, Text), cast(c.kwargs, Text))
        conditions.append(or_(*(_contains(text, needle, RESULT_LIMIT) for text in texts for needle in needles)))
    return conditions


def _name_is(name: str) -> ColumnElement[bool]:
    if len(name) > NAME_MAX:  # no task name is that long; SQLite would refuse the LIKE pattern
        return false()
    return or_(jobs.c.name == name, jobs.c.name.endswith("." + name, autoescape=True))


def _error_text() -> ColumnElement[str]:
    """``Type: message``, as ``job_record`` shows the error."""
    return func.coalesce(jobs.c.error_type, "") + ": " + func.coalesce(jobs.c.error_message, "")


def _contains(text: ColumnElement[Any], needle: str, longest: int) -> ColumnElement[bool]:
    """``needle`` in ``text``, any case, on SQLite and PostgreSQL alike; nothing longer than ``longest`` is stored."""
    return text.icontains(needle, autoescape=True) if len(needle) <= longest else false()


def _json_forms(text: str) -> tuple[str, ...]:
    """``text`` and, when they differ, the form json.dumps stores it in (non-ASCII and controls as \\uXXXX)."""
    escaped = "".join(ch if " " <= ch < "\x7f" else f"\\u{ord(ch):04x}" for ch in text)
    return (text,) if escaped == text else (text, escaped)


@dataclass(frozen=True)
class Selection:
    """The jobs a filter selected at one moment: how many, and (``chunks``) which.

    Jobs sent after that moment are never part of it, so an action that sends jobs (a retry)
    cannot select its own.
    """

    job_filter: JobFilter
    count: int

    def chunks(self, columns: Sequence[str] = ("id",), size: int = SELECT_CHUNK) -> Iterator[list[dict[str, Any]]]:
        """The selected jobs, oldest first, ``size`` at a time, as rows of ``columns``."""
        return job_chunks(self.job_filter, columns, size)


def select_jobs(job_filter: JobFilter) -> Selection:
    """The jobs ``job_filter`` selects now, counted."""
    fixed = job_filter.sent_before(utcnow())
    return Selection(fixed, count_jobs(fixed))


def count_jobs(job_filter: JobFilter) -> int:
    """How many jobs ``job_filter`` selects."""
    query = select(func.count()).select_from(jobs).where(*job_conditions(job_filter))
    with db.engine.connect() as conn:
        return int(conn.scalar(query) or 0)


def job_chunks(
    job_filter: JobFilter,
    columns: Sequence[str] = ("id",),
    size: int = SELECT_CHUNK,
    newest_first: bool = False,
    limit: int | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """The jobs ``job_filter`` selects (at most ``limit``), in chunks of ``size`` rows of ``columns``.

    Keyset pagination on ``(sent_at, id)``: each chunk is one query that starts after the last row
    of the one before, so rows deleted or changed meanwhile neither repeat nor shift the others.
    """
    wanted = [jobs.c[name] for name in dict.fromkeys(("sent_at", "id", *columns))]
    # Every writer sets sent_at (a job first heard of from a worker gets the time it was heard of),
    # and a keyset cannot step past NULL.
    query = select(*wanted).where(jobs.c.sent_at.is_not(None), *job_conditions(job_filter))
    order = (jobs.c.sent_at.desc(), jobs.c.id.desc()) if newest_first else (jobs.c.sent_at, jobs.c.id)
    last: tuple[datetime, str] | None = None
    remaining = limit
    while remaining is None or remaining > 0:
        batch = size if remaining is None else min(size, remaining)
        page = _after(query, last, newest_first).order_by(*order).limit(batch)
        with db.engine.connect() as conn:
            rows = [dict(row) for row in conn.execute(page).mappings()]
        if rows:
            yield rows
        if len(rows) < batch:
            return
        last = (rows[-1]["sent_at"], rows[-1]["id"])
        remaining = None if remaining is None else remaining - len(rows)


def _after(query: Select[Any], last: tuple[datetime, str] | None, newest_first: bool) -> Select[Any]:
    """``query`` limited to the rows after ``last`` in the order; written so the sent_at index serves it."""
    if last is None:
        return query
    sent_at, task_id = last
    if newest_first:
        return query.where(jobs.c.sent_at <= sent_at, or_(jobs.c.sent_at < sent_at, jobs.c.id < task_id))
    return query.where(jobs.c.sent_at >= sent_at, or_(jobs.c.sent_at > sent_at, jobs.c.id > task_id))
