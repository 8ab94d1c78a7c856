"""Revoking jobs: marked in the history (every broker, survives restarts), broadcast where possible.

A worker skips a job the history marks revoked just before running it, and its heartbeat
thread terminates a running job marked ``--terminate`` (prefork pool). On brokers with
broadcast (Redis, RabbitMQ) Celery's own revoke is sent as well, which acts at once.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from flask import current_app
from sqlalchemy import Connection, select, update

from project.extensions import db
from project.failures import reason, service_errors
from project.jobs.history.models import jobs
from project.jobs.history.values import FINISHED_STATES, UNKNOWN, utcnow
from project.jobs.registry import current_celery
from project.jobs.results import job_status

logger = logging.getLogger("appctl.revoke")

WAITING_STATES = ("PENDING", UNKNOWN, "RETRY")  # UNKNOWN: perhaps queued; revoked, it never runs
REVOKE_COLUMNS = ("id", "name", "state", "revoked_at", "outcome")


def supports_broadcast(celery: Celery) -> bool:
    """Whether the broker carries Celery's broadcast messages (remote control): not the SQLAlchemy one."""
    with celery.connection_for_write() as connection:
        channel_class = getattr(connection.transport, "Channel", None)  # virtual transports only
        return bool(getattr(channel_class, "supports_fanout", True))


def _mark(conn: Connection, record: dict[str, Any], terminate: bool) -> str:
    """Mark one job revoked in the history; return the outcome for people to read."""
    now, task_id = utcnow(), record["id"]
    if conn.scalar(select(jobs.c.id).where(jobs.c.id == task_id)) is None:  # sent from outside the app
        conn.execute(jobs.insert().values(id=task_id, name=record["name"], state=record["state"], sent_at=now))
    conn.execute(update(jobs).where(jobs.c.id == task_id).values(revoked_at=now, terminate=terminate))
    waiting = update(jobs).where(jobs.c.id == task_id, jobs.c.state.in_(WAITING_STATES))
    revoked = {"state": "REVOKED", "finished_at": now, "error_type": "TaskRevokedError", "error_message": "revoked"}
    if conn.execute(waiting.values(revoked)).rowcount:
        return "revoked"
    return "terminating" if terminate else "running: it will finish unless terminated"


def revoke_jobs(task_ids: list[str], terminate: bool = False) -> list[dict[str, Any]]:
    """Revoke the jobs (NotFound, before any change, for an id never sent); finished ones are left as they are."""
    records = [job_status(task_id) for task_id in task_ids]
    celery = current_celery()
    outcomes = []
    for record in records:
        if record["state"] in FINISHED_STATES:
            outcomes.append({**record, "outcome": f"already finished: {record['state']}"})
            continue
        with db.engine.begin() as conn:
            outcome = _mark(conn, record, terminate)
        if outcome == "revoked":
            with service_errors("result backend", current_app.config["CELERY_RESULT_BACKEND"]):
                celery.backend.mark_as_revoked(record["id"], "revoked")
        outcomes.append({**record, **(job_status(record["id"])), "outcome": outcome})
    broadcast_revoke(celery, [o["id"] for o in outcomes if not o["outcome"].startswith("already")], terminate)
    return outcomes


def broadcast_revoke(celery: Celery, task_ids: list[str], terminate: bool) -> None:
    """Send Celery's revoke to the workers where the broker supports it; a failure only warns."""
    if not task_ids or not supports_broadcast(celery):
        return
    try:
        celery.control.revoke(task_ids, terminate=terminate, signal="SIGTERM")
    except Exception as exc:
        logger.warning("revoke recorded but not broadcast to the workers: %s", reason(exc))
