"""Selecting jobs from the history: one filter for every listing and bulk action, read in chunks.

Chunks are read by keyset on ``(sent_at, id)``, each in a short query of its own, so a selection
of any size costs one chunk of memory and holds no read transaction open while its jobs are acted on.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from project.errors import InvalidInput
from project.jobs.history.values import DISCARDED, ERROR_LIMIT, PURGED, RESULT_LIMIT, STATES, utcnow
from project.jobs.history.write import current_writer
from project.jobs.history.write_driver import read_row, stored_time
from project.jobs.names import check_queue_name, check_task_id, check_text
from project.sqlite import LOWER

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
    not_retried: bool = False  # only the jobs no retry has sent again yet (what a retry by filter sends)
    # Revoked jobs whose message may still wait in the broker (no worker took and dropped it, not
    # purged, not expired): True selects only them, False leaves them out (what a prune may delete).
    undiscarded: bool | None = None

    def __post_init__(self) -> None:
        """InvalidInput for a value the same option refuses elsewhere: a state, an id, a queue name, text not UTF-8."""
        object.__setattr__(self, "states", check_states(self.states))
        for field in ("name", "error", "args", "schedule"):
            if (value := getattr(self, field)) is not None:
                check_text(value, f"--{field}")
        if self.schedule is not None:  # schedule names are stored in NFC (project/schedules/service.py)
            object.__setattr__(self, "schedule", unicodedata.normalize("NFC", self.schedule))
        if self.retry_of is not None:
            check_task_id(self.retry_of)
        check_queue_name(self.queue)

    @property
    def is_empty(self) -> bool:
        """Whether no field narrows the selection."""
        return self == JobFilter()

    def sent_before(self, moment: datetime) -> JobFilter:
        """This filter, further limited to jobs sent before ``moment``."""
        return replace(self, until=moment if self.until is None else min(self.until, moment))


def filter_sql(selection: JobFilter, dialect: str) -> tuple[list[str], dict[str, Any]]:
    """The WHERE conditions of ``selection`` as SQL text with ``:name`` parameters, and their values
    (times as ``dialect`` stores them): the one query builder of every reader and bulk action."""
    conditions: list[str] = []
    params: dict[str, Any] = {}
    if selection.states:
        marks = []
        for index, state in enumerate(selection.states):
            params[f"state_{index}"] = state
            marks.append(f":state_{index}")
        conditions.append(f"state IN ({', '.join(marks)})")
    if selection.name is not None:
        conditions.append(_name_is(selection.name, params))
    for column, value in (
        ("queue", selection.queue),
        ("retry_of", selection.retry_of),
        ("schedule", selection.schedule),
    ):
        if value is not None:
            params[column] = value
            conditions.append(f"{column} = :{column}" if len(value) <= NAME_MAX else _FALSE)
    for name, operator, moment in (("since", ">=", selection.since), ("until", "<", selection.until)):
        if moment is not None:
            params[name] = stored_time(dialect, moment)
            conditions.append(f"sent_at {operator} :{name}")
    if selection.not_retried:
        conditions.append("retried_by IS NULL")
    if selection.undiscarded is not None:
        params.update(purged=PURGED, discarded=DISCARDED, now=stored_time(dialect, utcnow()))
        undiscarded = (
            "(state = 'REVOKED' AND coalesce(revoked_reason, '') NOT IN (:purged, :discarded)"
            " AND (expires IS NULL OR expires > :now))"
        )
        conditions.append(undiscarded if selection.undiscarded else f"NOT {undiscarded}")
    lower = LOWER if dialect == "sqlite" else "lower"
    if selection.error is not None:
        conditions.append(_contains(_ERROR_TEXT, selection.error, ERROR_TEXT_MAX, "error", params, lower))
    if selection.args is not None:
        texts = ("CAST(args AS TEXT)", "CAST(kwargs AS TEXT)")
        needles = _json_forms(selection.args)
        found = [
            _contains(text, needle, RESULT_LIMIT, f"args_{index}", params, lower)
            for index, needle in enumerate(needles)
            for text in texts
        ]
        conditions.append(f"({' OR '.join(found)})")
    return conditions, params


_FALSE = "1 = 0"
_LIKE_ESCAPE = "/"
# The error as job_record shows it: "Type: message", or the one part a job has; NULL (matching
# nothing) for a job without an error.
_ERROR_TYPE, _ERROR_MESSAGE = "nullif(error_type, '')", "nullif(error_message, '')"
_ERROR_TEXT = f"coalesce({_ERROR_TYPE} || ': ' || {_ERROR_MESSAGE}, {_ERROR_TYPE}, {_ERROR_MESSAGE})"


def _like_escaped(text: str) -> str:
    """``text`` matched literally by LIKE ... ESCAPE '/'."""
    return "".join(_LIKE_ESCAPE + ch if ch in "%_/" else ch for ch in text)


def _name_is(name: str, params: dict[str, Any]) -> str:
    """The full task name, or its last dotted part."""
    if len(name) > NAME_MAX:  # no task name is that long; SQLite would refuse the LIKE pattern
        return _FALSE
    # Compared by substr, not LIKE: SQLite's LIKE ignores case, PostgreSQL's does not.
    params.update(name=name, dotted_name="." + name, dotted_length=len(name) + 1)
    return "(name = :name OR substr(name, length(name) - :dotted_length + 1) = :dotted_name)"


def _contains(text: str, needle: str, longest: int, param: str, params: dict[str, Any], lower: str) -> str:
    """``needle`` in ``text``, any case (the SQL function ``lower`` on both sides: project/sqlite.py's
    on SQLite, whose own lower() folds ASCII only); nothing longer than ``longest`` is stored."""
    if len(needle) > longest:
        return _FALSE
    params[param] = "%" + _like_escaped(needle) + "%"
    return f"{lower}({text}) LIKE {lower}(:{param}) ESCAPE '{_LIKE_ESCAPE}'"


def _json_forms(text: str) -> tuple[str, ...]:
    """``text``, and the forms json.dumps stores it in (quotes and backslashes escaped, the rest of
    ASCII as it is, everything else as \\uXXXX, surrogate pairs past the BMP), as typed, in lower
    case and in upper case: SQL's lower() cannot fold an escaped letter."""
    forms = [text] + [json.dumps(variant)[1:-1] for variant in (text, text.lower(), text.upper())]
    return tuple(dict.fromkeys(forms))


def job_conditions(selection: JobFilter) -> list[Any]:
    """``filter_sql`` of ``selection`` as SQLAlchemy clauses, for the queries built with the ORM's tables."""
    from sqlalchemy import text

    from project.extensions import db

    conditions, params = filter_sql(selection, db.engine.dialect.name)
    return [text(" AND ".join(conditions)).bindparams(**params)] if conditions else []


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
    history = current_writer()
    conditions, params = filter_sql(job_filter, history.dialect)
    [row] = history.query(f"SELECT count(*) AS count FROM jobs{_where(conditions)}", params)
    return int(row["count"])


def job_chunks(
    job_filter: JobFilter,
    columns: Sequence[str] | None = ("id",),
    size: int = SELECT_CHUNK,
    newest_first: bool = False,
    limit: int | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """The jobs ``job_filter`` selects (at most ``limit``), in chunks of ``size`` rows of ``columns``
    (None: every column), as the ORM reads them.

    Keyset pagination on ``(sent_at, id)``: each chunk is one query that starts after the last row
    of the one before, so rows deleted or changed meanwhile neither repeat nor shift the others.
    """
    history = current_writer()
    conditions, params = filter_sql(job_filter, history.dialect)
    # Every writer sets sent_at (a job first heard of from a worker gets the time it was heard of),
    # and a keyset cannot step past NULL.
    conditions.insert(0, "sent_at IS NOT NULL")
    wanted = "*" if columns is None else ", ".join(dict.fromkeys(("sent_at", "id", *columns)))
    order = "sent_at DESC, id DESC" if newest_first else "sent_at, id"
    after = _AFTER_NEWER if newest_first else _AFTER_OLDER
    remaining = limit
    while remaining is None or remaining > 0:
        batch = size if remaining is None else min(size, remaining)
        sql = f"SELECT {wanted} FROM jobs{_where(conditions)} ORDER BY {order} LIMIT {batch}"
        rows = history.query(sql, params)
        if rows:
            yield [read_row(history.dialect, row) for row in rows]
        if len(rows) < batch:
            return
        if after not in conditions:  # the keyset, from the second chunk on
            conditions.append(after)
        params.update(last_sent_at=rows[-1]["sent_at"], last_id=rows[-1]["id"])  # as stored: no conversion
        remaining = None if remaining is None else remaining - len(rows)


# The rows after the last one read, in each order; written so the sent_at index serves them.
_AFTER_OLDER = "sent_at >= :last_sent_at AND (sent_at > :last_sent_at OR id > :last_id)"
_AFTER_NEWER = "sent_at <= :last_sent_at AND (sent_at < :last_sent_at OR id < :last_id)"


def _where(conditions: Sequence[str]) -> str:
    return f" WHERE {' AND '.join(conditions)}" if conditions else ""
