"""Following the job history: the jobs sent and the jobs changed since following began, as they happen.

The history has no "updated at" column, so a change is seen by comparing what each job looked like
(its state and times) between two polls, for the jobs a change can still come to: those sent
lately (read through the index on ``sent_at``) and those not finished (the ids already seen, and
the running ones through the index on ``state``). Every poll reads only those rows.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, or_, select

from project.extensions import db
from project.jobs.history.models import jobs
from project.jobs.history.read import job_record
from project.jobs.history.select import JobFilter, job_conditions
from project.jobs.history.values import LIVE_STATES, utcnow

FOLLOW_INTERVAL = 0.5  # seconds between two polls
# A job's sent_at is its sender's clock, and its row is committed a little later: a row may appear
# with a sent_at older than rows already seen. Rows sent this recently are compared at every poll.
LATE_WINDOW = timedelta(seconds=30)
TRACK_LIMIT = 10_000  # unfinished jobs already sent when following begins whose changes are followed (newest)
ID_CHUNK = 500  # ids per IN (...) list
RUNNING_STATES = ("STARTED", "RETRY")
LOOK = (jobs.c.id, jobs.c.state, jobs.c.started_at, jobs.c.finished_at, jobs.c.revoked_at, jobs.c.retried_by)
Look = tuple[Any, ...]


def follow_history(selection: JobFilter | None = None, timeout: float | None = None) -> Iterator[list[dict[str, Any]]]:
    """An empty list once following has begun, then each batch of jobs sent or changed since, oldest first.

    Only the jobs ``selection`` selects (as ``list_history`` does) are given; it ends after
    ``timeout`` seconds (None: never).
    """
    watcher = _Watcher(job_conditions(selection or JobFilter()))
    deadline = None if timeout is None else time.monotonic() + timeout
    with db.engine.connect() as conn:
        watcher.start(conn)
    yield []
    while deadline is None or (remaining := deadline - time.monotonic()) > 0:
        time.sleep(FOLLOW_INTERVAL if deadline is None else min(FOLLOW_INTERVAL, remaining))
        with db.engine.connect() as conn:
            changed = watcher.poll(conn)
        if changed:
            yield changed


class _Watcher:
    """What each job a change can still come to looked like at the last poll."""

    def __init__(self, conditions: list[ColumnElement[bool]]) -> None:
        self.looks: dict[str, Look] = {}
        self.live: set[str] = set()
        self.conditions = conditions  # the selection: only the changed jobs it selects are given

    def start(self, conn: Connection) -> None:
        """Remember the jobs as they are now: nothing sent before following began is news until it changes."""
        newest_live = select(*LOOK).where(jobs.c.state.in_(LIVE_STATES)).order_by(jobs.c.sent_at.desc())
        self._see(conn.execute(newest_live.limit(TRACK_LIMIT)).all())
        self._see(self._recent_and_running(conn))

    def poll(self, conn: Connection) -> list[dict[str, Any]]:
        """The records of the jobs sent or changed since the last poll, oldest first."""
        recent = self._recent_and_running(conn)
        seen = {row.id for row in recent}
        rows = recent + [row for chunk in _chunks(sorted(self.live - seen)) for row in self._rows(conn, chunk)]
        changed = self._see(rows)
        window = {row.id for row in recent}
        self.looks = {job_id: look for job_id, look in self.looks.items() if job_id in window or job_id in self.live}
        full_rows = [row for chunk in _chunks(changed) for row in self._full_rows(conn, chunk)]
        # A job may have changed again between the two reads: what is printed is what it looks like now.
        self._see(tuple(row[column.name] for column in LOOK) for row in full_rows)
        records = [job_record(row) for row in full_rows]
        return sorted(records, key=lambda record: (record["sent_at"] or "", record["id"]))

    def _recent_and_running(self, conn: Connection) -> list[Any]:
        query = select(*LOOK).where(or_(jobs.c.sent_at >= utcnow() - LATE_WINDOW, jobs.c.state.in_(RUNNING_STATES)))
        return list(conn.execute(query).all())

    def _rows(self, conn: Connection, ids: list[str]) -> list[Any]:
        rows = list(conn.execute(select(*LOOK).where(jobs.c.id.in_(ids))).all())
        self.live -= set(ids) - {row.id for row in rows}  # pruned meanwhile: nothing more will come
        return rows

    def _full_rows(self, conn: Connection, ids: list[str]) -> list[Any]:
        query = select(jobs).where(jobs.c.id.in_(ids), *self.conditions)
        return list(conn.execute(query).mappings().all())

    def _see(self, looks: Iterable[Iterable[Any]]) -> list[str]:
        """Record how jobs look (rows of LOOK); the ids of those that look different from before (or were not seen)."""
        changed = []
        for look in map(tuple, looks):
            job_id, state = look[0], look[1]
            if self.looks.get(job_id) != look:
                changed.append(job_id)
                self.looks[job_id] = look
            if state in LIVE_STATES:
                self.live.add(job_id)
            else:
                self.live.discard(job_id)
        return list(dict.fromkeys(changed))


def _chunks(ids: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(ids), ID_CHUNK):
        yield ids[start : start + ID_CHUNK]
