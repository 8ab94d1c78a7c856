"""Following the job history: the jobs sent and the jobs changed since following began, as they happen.

The history has no "updated at" column, so a change is seen by comparing what each job looked like
(its state and times) between two polls, for the jobs a change can still come to: those sent
lately (read through the index on ``sent_at``) and those not finished (the ids already seen, and
the running ones through the index on ``state``). Every poll reads only those rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, or_, select

from project.extensions import db
from project.jobs.history.models import jobs
from project.jobs.history.read import check_states, job_record
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


def follow_history(
    states: Sequence[str] = (), name: str | None = None, timeout: float | None = None
) -> Iterator[list[dict[str, Any]]]:
    """An empty list once following has begun, then each batch of jobs sent or changed since, oldest first.

    ``states`` and ``name`` select as ``list_history`` does; it ends after ``timeout`` seconds (None: never).
    """
    matches = _selection(states, name)
    deadline = None if timeout is None else time.monotonic() + timeout
    watcher = _Watcher()
    with db.engine.connect() as conn:
        watcher.start(conn)
    yield []
    while deadline is None or (remaining := deadline - time.monotonic()) > 0:
        time.sleep(FOLLOW_INTERVAL if deadline is None else min(FOLLOW_INTERVAL, remaining))
        with db.engine.connect() as conn:
            changed = [record for record in watcher.poll(conn) if matches(record)]
        if changed:
            yield changed


class _Watcher:
    """What each job a change can still come to looked like at the last poll."""

    def __init__(self) -> None:
        self.looks: dict[str, Look] = {}
        self.live: set[str] = set()

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
        records = [job_record(row) for chunk in _chunks(changed) for row in _full_rows(conn, chunk)]
        return sorted(records, key=lambda record: (record["sent_at"] or "", record["id"]))

    def _recent_and_running(self, conn: Connection) -> list[Any]:
        query = select(*LOOK).where(or_(jobs.c.sent_at >= utcnow() - LATE_WINDOW, jobs.c.state.in_(RUNNING_STATES)))
        return list(conn.execute(query).all())

    def _rows(self, conn: Connection, ids: list[str]) -> list[Any]:
        rows = list(conn.execute(select(*LOOK).where(jobs.c.id.in_(ids))).all())
        self.live -= set(ids) - {row.id for row in rows}  # pruned meanwhile: nothing more will come
        return rows

    def _see(self, rows: Iterable[Any]) -> list[str]:
        """Record how ``rows`` look; the ids of those that look different from before (or were not seen)."""
        changed = []
        for row in rows:
            look = tuple(row)
            if self.looks.get(row.id) != look:
                changed.append(row.id)
                self.looks[row.id] = look
            if row.state in LIVE_STATES:
                self.live.add(row.id)
            else:
                self.live.discard(row.id)
        return list(dict.fromkeys(changed))


def _full_rows(conn: Connection, ids: list[str]) -> list[Any]:
    return list(conn.execute(select(jobs).where(jobs.c.id.in_(ids))).mappings().all())


def _chunks(ids: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(ids), ID_CHUNK):
        yield ids[start : start + ID_CHUNK]


def _selection(states: Sequence[str], name: str | None) -> Callable[[dict[str, Any]], bool]:
    """Whether a record is one ``task history --state/--name`` would list."""
    wanted = set(check_states(states))

    def matches(record: dict[str, Any]) -> bool:
        if wanted and record["state"] not in wanted:
            return False
        return not name or record["name"] == name or (record["name"] or "").endswith("." + name)

    return matches
