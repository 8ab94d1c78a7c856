"""The app's queues: which there are, and what each holds (``queue list``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from celery import Celery
from flask import current_app
from sqlalchemy import select

from project.broker.queues import QueueAccess, QueueCounts, queue_access
from project.extensions import db
from project.failures import service_errors
from project.jobs.heartbeat import broker_identity
from project.jobs.history.models import jobs
from project.jobs.history.read import active_workers
from project.jobs.history.values import utcnow
from project.jobs.registry import current_celery

QUEUE_FIELDS = ("name", "waiting", "oldest_age", "reserved", "consumers")


@contextmanager
def broker_queues() -> Iterator[QueueAccess]:
    """The app's broker, as ``QueueAccess``; broker failures inside the block are ServiceUnavailable."""
    with (
        service_errors("broker", current_app.config["CELERY_BROKER_URL"]),
        current_celery().connection_for_write() as connection,
    ):
        connection.connect()
        yield queue_access(connection)


def configured_queues(celery: Celery) -> set[str]:
    """The default queue, the queues declared in ``task_queues`` and those named by ``task_routes``."""
    names: set[str] = {celery.conf.task_default_queue}
    names.update(queue.name for queue in celery.conf.task_queues or ())
    routes = celery.conf.task_routes or {}
    for table in routes if isinstance(routes, list | tuple) else [routes]:
        for route in table.values() if isinstance(table, dict) else ():
            queue = route.get("queue") if isinstance(route, dict) else route
            name = queue if isinstance(queue, str) else getattr(queue, "name", None)  # a name or a kombu Queue
            if isinstance(name, str):
                names.add(name)
    return names


def history_queues() -> set[str]:
    """The queues named in the job history."""
    with db.engine.connect() as conn:
        return set(conn.scalars(select(jobs.c.queue).where(jobs.c.queue.is_not(None)).distinct()))


def app_queues(workers: list[dict[str, Any]]) -> set[str]:
    """The queues the app uses: configured, named in the history, consumed by live ``workers``."""
    names = configured_queues(current_celery()) | history_queues()
    names.update(queue for worker in workers for queue in worker["queues"])
    return names


def list_queues() -> list[dict[str, Any]]:
    """Each queue the app uses or the broker holds jobs in: waiting, oldest age (s), reserved, consumers.

    None where the broker cannot tell (docs/operations.md, "Queues").
    """
    workers = active_workers(broker_identity(current_celery()))  # a worker on another broker consumes none of these
    names = app_queues(workers)
    with broker_queues() as broker:
        names |= broker.queue_names()
        counted = [broker.counts(name) for name in sorted(names)]
    return [_queue_record(counts, workers) for counts in counted]


def _queue_record(counts: QueueCounts, workers: list[dict[str, Any]]) -> dict[str, Any]:
    consumers = counts.consumers
    if consumers is None:  # the broker keeps no count: the live workers' heartbeats say who consumes it
        consumers = sum(counts.name in worker["queues"] for worker in workers)
    return {
        "name": counts.name,
        "waiting": counts.waiting,
        "oldest_age": oldest_age(counts.next_ids) if counts.waiting else None,
        "reserved": counts.reserved,
        "consumers": consumers,
    }


def oldest_age(task_ids: list[str]) -> int | None:
    """Whole seconds since the earliest of these jobs was sent, by the history; None if it has none."""
    if not task_ids:
        return None
    with db.engine.connect() as conn:
        sent = [moment for moment in conn.scalars(select(jobs.c.sent_at).where(jobs.c.id.in_(task_ids))) if moment]
    return max(0, int((utcnow() - min(sent)).total_seconds())) if sent else None
