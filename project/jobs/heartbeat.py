"""Worker liveness and revoke-by-ledger, without Celery's broadcast (absent on the embedded broker).

A worker bootstep runs a thread that, every ``APPCTL_HEARTBEAT_INTERVAL`` seconds, writes the
worker's row in ``worker_heartbeats`` (name, queues, active jobs, an expiry time), terminates
the active jobs that ``task revoke --terminate`` marked in the history, and adds the jobs the
history marks revoked to Celery's own list of revoked ids (``celery.worker.state.revoked``,
Celery 5.7.0), which the worker checks before it runs a job. Before the worker takes its first
job, the step loads the jobs revoked so far: a revoke made while no worker ran still holds.
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import datetime, timedelta
from typing import Any

from celery import Celery, bootsteps
from celery.worker import state as worker_state
from flask import Flask
from sqlalchemy import delete, select

from project.extensions import db
from project.failures import reason
from project.jobs.history.models import heartbeats, jobs
from project.jobs.history.values import utcnow
from project.jobs.history.write_orm import upsert
from project.urls import parse_url

logger = logging.getLogger("appctl.heartbeat")

MISSED_BEATS = 5  # a worker silent for this many intervals counts as gone
ACTIVE_LISTED = 100
BROKER_MAX = 255  # the length of worker_heartbeats.broker
REVOKED_LOADED = 50_000  # the newest revoked jobs a worker loads: Celery's own limit (REVOKES_MAX)


def broker_identity(celery: Celery) -> str:
    """Which broker ``celery`` uses, without credentials: its transport, host, port and virtual host
    (a Redis database number), so a reader on another broker, or another Redis database, is told apart."""
    connection = celery.connection_for_write()
    transport = str(connection.transport_cls)  # the URL's scheme: redis, amqp, sqla
    vhost = connection.virtual_host or ""
    if transport in ("redis", "rediss"):
        vhost = vhost.strip("/") or "0"
    hostname = connection.hostname or ""
    if "://" in hostname:  # sqla+sqlite:////…/broker.sqlite: the broker is that file, however its path is spelled
        database = parse_url(hostname)
        where = os.path.realpath(database.sqlite_file) if database.sqlite_file else hostname
        return f"{transport}+{database.scheme}:///{where}"[:BROKER_MAX] if database.sqlite_file else where
    port = connection.port or connection.transport.default_port  # the Transport object only: no connection
    host = f"[{hostname}]" if ":" in hostname else hostname  # an IPv6 address
    return f"{transport}://{host}:{port}/{vhost}"[:BROKER_MAX]


class Heartbeat:
    """The thread that writes one worker's heartbeat and carries out terminate requests."""

    def __init__(self, flask_app: Flask, worker: Any) -> None:
        self.flask_app, self.worker = flask_app, worker
        self.interval: float = flask_app.config["APPCTL_HEARTBEAT_INTERVAL"]
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, name="appctl-heartbeat", daemon=True)
        self.terminated: set[str] = set()
        self.beaten = False
        self.revoked_since: datetime | None = None
        self.broker = broker_identity(worker.app)

    def start(self) -> None:
        try:
            with self.flask_app.app_context():
                self.load_revoked()  # before the consumer starts: no revoked job is taken first
        except Exception as exc:
            logger.warning("revoked jobs not loaded from the history: %s", reason(exc))
        self.thread.start()

    def stop(self) -> None:
        """Stop beating and delete this worker's row, so `appctl status` stops counting it at once."""
        if not self.thread.is_alive():
            return
        self.stopping.set()
        self.thread.join(timeout=self.interval + 5)
        try:
            with self.flask_app.app_context(), db.engine.begin() as conn:
                conn.execute(delete(heartbeats).where(heartbeats.c.hostname == self.worker.hostname))
        except Exception as exc:  # the row expires on its own after a few intervals
            logger.warning("heartbeat row not removed: %s", reason(exc))

    def run(self) -> None:
        while True:
            try:
                with self.flask_app.app_context():
                    self.beat()
                    self.terminate_revoked()
                    self.load_revoked()
            except Exception as exc:  # a database hiccup must not stop the heartbeat for good
                logger.warning("heartbeat not recorded: %s", reason(exc))
            if self.stopping.wait(self.interval):
                return

    def beat(self) -> None:
        """Write this worker's row: queues, active jobs, and when to consider it gone."""
        now = utcnow()
        active = sorted(request.id for request in list(worker_state.active_requests))
        row = {
            "hostname": self.worker.hostname,
            "pid": os.getpid(),
            "queues": sorted(self.worker.app.amqp.queues.consume_from or {}),
            "broker": self.broker,
            "active": active[:ACTIVE_LISTED],
            "started_at": now,
            "last_seen": now,
            "expires_at": now + timedelta(seconds=self.interval * MISSED_BEATS),
        }
        with db.engine.begin() as conn:
            upsert(conn, heartbeats, [row], keep=("started_at",) if self.beaten else ())
        self.beaten = True

    def load_revoked(self) -> None:
        """Add the jobs revoked in the history since the last look (all, the first time) to Celery's revoked ids.

        The look goes back a few intervals: a revoke's time is taken before its commit.
        """
        query = select(jobs.c.id).where(jobs.c.state == "REVOKED")
        if self.revoked_since is not None:
            query = query.where(jobs.c.revoked_at >= self.revoked_since)
        query = query.order_by(jobs.c.revoked_at.desc()).limit(REVOKED_LOADED)
        now = utcnow()
        with db.engine.connect() as conn:
            revoked = list(conn.scalars(query))
        for task_id in revoked:
            worker_state.revoked.add(task_id)
        self.revoked_since = now - timedelta(seconds=self.interval * MISSED_BEATS)

    def terminate_revoked(self) -> None:
        """Terminate the active jobs marked ``revoke --terminate`` in the history."""
        active = {request.id: request for request in list(worker_state.active_requests)}
        if not active:
            return
        query = select(jobs.c.id).where(jobs.c.id.in_(list(active)), jobs.c.terminate.is_(True))
        with db.engine.connect() as conn:
            marked = set(conn.scalars(query)) - self.terminated
        for task_id in marked:
            self.terminated.add(task_id)
            worker_state.revoked.add(task_id)
            try:
                active[task_id].terminate(self.worker.pool, signal="TERM")
            except NotImplementedError:
                logger.warning("the %s pool cannot terminate job %s", type(self.worker.pool).__name__, task_id)


class HeartbeatStep(bootsteps.StartStopStep):
    """Runs the heartbeat thread for as long as the worker's pool runs."""

    requires = ("celery.worker.components:Pool",)

    def create(self, worker: Any) -> Heartbeat:
        from project.celery_internals import heartbeat_events

        heartbeat_events.install()  # before the consumer starts: its events never hold up a warm shutdown
        return Heartbeat(worker.app.flask_app, worker)
