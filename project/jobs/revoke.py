"""Revoking jobs: marked in the history (every broker, survives restarts), broadcast where possible.

A worker skips a job the history marks revoked just before running it, and its heartbeat
thread terminates a running job marked ``--terminate`` (prefork pool). On brokers with
broadcast (Redis, RabbitMQ) Celery's own revoke is sent as well, which acts at once.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from typing import Any

from celery import Celery
from flask import current_app
from sqlalchemy import Connection, select, update

from project.celery_internals.broadcast import carries_broadcast
from project.celery_internals.revoked_results import store_revoked
from project.errors import InvalidInput
from project.extensions import db
from project.failures import reason, service_errors
from project.jobs.history.models import jobs
from project.jobs.history.select import JobFilter
from project.jobs.history.values import FINISHED_STATES, LIVE_STATES, UNKNOWN, utcnow
from project.jobs.registry import current_celery
from project.jobs.results import job_status

logger = logging.getLogger("appctl.revoke")

WAITING_STATES = ("PENDING", UNKNOWN, "RETRY")  # UNKNOWN: perhaps queued; revoked, it never runs
REVOKE_COLUMNS = ("id", "name", "state", "revoked_at", "outcome")
REVOKED_FIELDS = {"state": "REVOKED", "error_type": "TaskRevokedError", "error_message": "revoked"}


def supports_broadcast(celery: Celery) -> bool:
    """Whether the broker carries Celery's broadcast messages (remote control): not the SQLAlchemy one."""
    return carries_broadcast(celery)


def _mark(conn: Connection, record: dict[str, Any], terminate: bool, now: datetime) -> str:
    """Mark one job revoked in the history; return the outcome for people to read."""
    task_id = record["id"]
    if conn.scalar(select(jobs.c.id).where(jobs.c.id == task_id)) is None:  # sent from outside the app
        conn.execute(jobs.insert().values(id=task_id, name=record["name"], state=record["state"], sent_at=now))
    conn.execute(update(jobs).where(jobs.c.id == task_id).values(revoked_at=now, terminate=terminate))
    waiting = update(jobs).where(jobs.c.id == task_id, jobs.c.state.in_(WAITING_STATES))
    if conn.execute(waiting.values({**REVOKED_FIELDS, "finished_at": now})).rowcount:
        return "revoked"
    return "terminating" if terminate else "running: it will finish unless terminated"


def revocable(job_filter: JobFilter) -> JobFilter:
    """``job_filter`` narrowed to the jobs a revoke acts on, those not finished; InvalidInput if none can be."""
    live = tuple(state for state in (job_filter.states or LIVE_STATES) if state in LIVE_STATES)
    if not live:
        raise InvalidInput(f"finished jobs cannot be revoked: choose among {', '.join(LIVE_STATES)}")
    return replace(job_filter, states=live)


def revoke_jobs(task_ids: list[str], terminate: bool = False) -> list[dict[str, Any]]:
    """Revoke the jobs (NotFound, before any change, for an id never sent); finished ones are left as they are.

    The history marks them all in one transaction (a bulk revoke calls this a chunk at a time),
    then the result backend and, where the broker carries it, Celery's broadcast hear of them.
    """
    records = [job_status(task_id) for task_id in dict.fromkeys(task_ids)]  # an id given twice: once
    live = [record for record in records if record["state"] not in FINISHED_STATES]
    now = utcnow()
    with db.engine.begin() as conn:
        outcomes = {record["id"]: _mark(conn, record, terminate, now) for record in live}
    celery = current_celery()
    with service_errors("result backend", current_app.config["CELERY_RESULT_BACKEND"]):
        revoked = [task_id for task_id, outcome in outcomes.items() if outcome == "revoked"]
        store_revoked(celery.backend, revoked, "revoked")
    broadcast_revoke(celery, list(outcomes), terminate)
    return [_revoked_record(record, outcomes.get(record["id"]), now) for record in records]


ALREADY_FINISHED = "already finished"  # the outcome of a job the revoke found finished: left as it was


def was_revoked(record: dict[str, Any]) -> bool:
    """Whether a record of ``revoke_jobs`` is of a job the revoke acted on."""
    return not str(record.get("outcome", "")).startswith(ALREADY_FINISHED)


def _revoked_record(record: dict[str, Any], outcome: str | None, now: datetime) -> dict[str, Any]:
    """The job's record after the revoke, with its ``outcome``."""
    if outcome is None:
        return {**record, "outcome": f"{ALREADY_FINISHED}: {record['state']}"}
    changes: dict[str, Any] = {"revoked_at": now.isoformat(), "outcome": outcome}
    if outcome == "revoked":
        error = f"{REVOKED_FIELDS['error_type']}: {REVOKED_FIELDS['error_message']}"
        changes.update(state="REVOKED", finished_at=now.isoformat(), error=error)
    return {**record, **changes}


def broadcast_revoke(celery: Celery, task_ids: list[str], terminate: bool) -> None:
    """Send Celery's revoke to the workers where the broker supports it; a failure only warns."""
    if not task_ids or not supports_broadcast(celery):
        return
    try:
        celery.control.revoke(task_ids, terminate=terminate, signal="SIGTERM")
    except Exception as exc:
        logger.warning("revoke recorded but not broadcast to the workers: %s", reason(exc))
