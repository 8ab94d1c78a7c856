"""What the beat does each tick: hold the lease, then send every run that is due, each exactly once.

Catch-up policy: a schedule whose next run passed while no beat ran gets one run when a beat next
holds the lease, however many it missed; its next run is then the first one after now.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from project.errors import FateUnknown
from project.extensions import db
from project.failures import reason
from project.schedules.lease import bound_lock_waits, holds_lease
from project.schedules.models import schedules
from project.schedules.service import next_run, send_run

logger = logging.getLogger("appctl.beat")


def following_run(row: Any, now: datetime) -> datetime:
    """The run after the due one: the next in step, or, when that too has passed, the first after now."""
    following = next_run(row, row["next_run_at"])
    return following if following > now else next_run(row, now)


def claim_run(row: Any, holder: str, now: datetime) -> bool:
    """Move the schedule's next run on, if nobody else did and ``holder`` still holds the lease.

    One conditional UPDATE: of two beats that see the same due run, only one claims it.
    """
    claim = (
        update(schedules)
        .where(
            schedules.c.name == row["name"],
            schedules.c.next_run_at == row["next_run_at"],
            schedules.c.enabled.is_(True),
            holds_lease(holder, now),
        )
        .values(next_run_at=following_run(row, now))
    )
    with db.engine.begin() as conn:
        bound_lock_waits(conn)
        return bool(conn.execute(claim).rowcount)


def send_due_runs(holder: str, now: datetime) -> tuple[list[str], datetime | None]:
    """Send each due run once: ``(job ids sent, when the next run is due)``."""
    due = select(schedules).where(schedules.c.enabled.is_(True), schedules.c.next_run_at <= now)
    with db.engine.connect() as conn:
        rows = list(conn.execute(due.order_by(schedules.c.next_run_at)).mappings())
    sent = []
    for row in rows:
        if not claim_run(row, holder, now):
            continue
        try:
            sent.append(send_run(row))
        except FateUnknown as exc:  # the broker may have it: the history holds it as a run, UNKNOWN until it runs
            logger.warning(
                "schedule %s: the run due at %s may or may not have been sent: %s",
                row["name"],
                row["next_run_at"],
                exc.message,
            )
            continue
        except Exception as exc:  # this run is lost (at most once); the next ones are still due
            logger.warning(
                "schedule %s: the run due at %s was not sent: %s", row["name"], row["next_run_at"], reason(exc)
            )
            continue
        logger.info("schedule %s: sent job %s", row["name"], sent[-1])
    soonest = select(func.min(schedules.c.next_run_at)).where(schedules.c.enabled.is_(True))
    with db.engine.connect() as conn:
        return sent, conn.scalar(soonest)
