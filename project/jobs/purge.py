"""Purging a queue: its waiting jobs removed from the broker and marked REVOKED ("purged") everywhere.

Celery's own purge deletes the messages only: the history and the result backend keep those jobs
PENDING forever. Here each chunk of jobs is first held (project/broker/queues.py), then marked
REVOKED in the result backend and in the history (``revoked_reason`` "purged"), and only then
removed for good, and its jobs printed, with Ctrl-C held back meanwhile: an interrupted purge
has marked, removed and printed whole chunks, and gives back the one it holds. A purge that dies
between marking and removing leaves its held chunk to be redelivered; a worker that gets a job
the history marks revoked skips it, so a marked job never runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import select, update

from project.broker.queues import QueuedJob
from project.celery_internals.revoked_results import store_revoked
from project.errors import LIST_QUEUES, NotFound
from project.extensions import db
from project.failures import service_errors
from project.interrupts import interrupts_held
from project.jobs.heartbeat import broker_identity
from project.jobs.history.models import jobs
from project.jobs.history.read import active_workers
from project.jobs.history.values import FINISHED_STATES, PURGED, utcnow
from project.jobs.history.write_orm import upsert
from project.jobs.names import check_queue_name
from project.jobs.queues import app_queues, broker_queues
from project.jobs.registry import current_celery, resolve_task

PURGE_FIELDS = ("id", "name", "outcome")


@dataclass
class Purge:
    """A purge about to run: ``waiting`` jobs in ``queue`` now; iterate to carry it out, a record a job."""

    queue: str
    task: str | None
    dry_run: bool
    waiting: int

    def __iter__(self) -> Iterator[dict[str, Any]]:
        with broker_queues() as broker:
            if self.dry_run:
                for job in broker.peek(self.queue, self.task):
                    yield {"id": job.id, "name": job.name, "outcome": "would purge"}
                return
            with closing(broker.take(self.queue, self.task)) as chunks:
                chunk = next(chunks, None)
                while chunk is not None:
                    with interrupts_held():  # a chunk is marked, removed and printed whole, or given back
                        records = mark_purged(chunk, self.queue)
                        chunk = next(chunks, None)  # the marked chunk is removed for good, the next one held
                        yield from records


def prepare_purge(queue: str, task_name: str | None = None, dry_run: bool = False) -> Purge:
    """Check the queue and task names and count the jobs waiting (all of them, whatever ``task_name``).

    NotFound for a queue the app does not use (configured, in the history, consumed) that holds no job.
    """
    check_queue_name(queue)
    task = resolve_task(task_name).name if task_name is not None else None  # "" is a name no task has
    with broker_queues() as broker:
        waiting = broker.counts(queue).waiting
        workers = active_workers(broker_identity(current_celery()))
        if not waiting and queue not in app_queues(workers) | broker.queue_names():
            raise NotFound(f"no queue {queue!r}: the app does not use it and no job waits there", remedy=LIST_QUEUES)
        if dry_run:
            broker.peek(queue, task)  # a broker that cannot peek refuses here, before anything is printed
    return Purge(queue, task, dry_run, waiting)


def mark_purged(chunk: list[QueuedJob], queue: str) -> list[dict[str, Any]]:
    """Mark the jobs of ``chunk`` REVOKED (purged) in the result backend, then in the history, unless finished.

    The backend first: when it fails, the history is unchanged and the chunk goes back to the queue.
    """
    ids = [job.id for job in chunk]
    with db.engine.connect() as conn:
        found = conn.execute(select(jobs.c.id, jobs.c.state).where(jobs.c.id.in_(ids)))
        states: dict[str, str] = {task_id: state for task_id, state in found}
    purged = [task_id for task_id in ids if states.get(task_id) not in FINISHED_STATES]
    with service_errors("result backend", current_app.config["CELERY_RESULT_BACKEND"]):
        store_revoked(current_celery().backend, purged, PURGED)
    now = utcnow()
    with db.engine.begin() as conn:
        unknown = [job for job in chunk if job.id not in states]  # sent from outside the app
        if unknown:
            rows = [{"id": j.id, "name": j.name, "queue": queue, "state": "PENDING", "sent_at": now} for j in unknown]
            upsert(conn, jobs, rows, keep=("name", "queue", "sent_at", "state"))  # its sender may record it now
        revoked = {
            "state": "REVOKED",
            "finished_at": now,
            "revoked_at": now,
            "revoked_reason": PURGED,
            "error_type": "TaskRevokedError",
            "error_message": PURGED,
        }
        conn.execute(update(jobs).where(jobs.c.id.in_(purged), jobs.c.state.notin_(FINISHED_STATES)).values(revoked))
        # A job revoked earlier had its message here too: with it gone, no worker can take it (a prune may delete it).
        gone = update(jobs).where(jobs.c.id.in_(ids), jobs.c.state == "REVOKED", jobs.c.revoked_reason.is_(None))
        conn.execute(gone.values(revoked_reason=PURGED))
    return [
        {"id": job.id, "name": job.name, "outcome": PURGED if job.id in purged else f"already {states[job.id]}"}
        for job in chunk
    ]
