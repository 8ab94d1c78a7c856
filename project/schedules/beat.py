"""The beat's scheduler: Celery's documented ``celery.beat.Scheduler`` API, its entries read from the database.

``celery beat`` (and ``celery worker --beat``) loop on ``Scheduler.tick()``, sleeping the seconds it
returns. Here each tick takes or renews the lease (project/schedules/lease.py), and the lease holder
sends the runs that are due (project/schedules/dispatch.py). The schedule table is read every tick,
at least every POLL_SECONDS, so changes made with ``appctl schedule …`` apply without a restart.
Checked against Celery 5.7.0: ``Scheduler.__init__`` calls ``setup_schedule``; ``Service`` calls
``tick`` in its loop and ``close`` when it stops.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import uuid
from typing import Any

from celery.beat import EmbeddedService, Scheduler

from project.celery_internals.worker_command import run_celery_command
from project.errors import UPGRADE_DATABASE, ConfigError
from project.extensions import db
from project.failures import reason
from project.interrupts import signals_held
from project.jobs.history.values import utcnow
from project.jobs.registry import current_celery
from project.schedules.dispatch import send_due_runs
from project.schedules.lease import release_lease, take_lease

POLL_SECONDS = 0.5  # at most this long between two reads of the schedule table
STOP_SECONDS = 10.0  # a worker's beat thread ends its tick within this when the worker stops
logger = logging.getLogger("appctl.beat")


class DatabaseScheduler(Scheduler):
    """Sends the runs of the schedules in the app's database, while this beat holds the lease."""

    def __init__(self, app: Any, *args: Any, **kwargs: Any) -> None:
        self.flask_app = app.flask_app
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease_seconds: float = self.flask_app.config["APPCTL_BEAT_LEASE"]
        self.leading = False
        with self.flask_app.app_context():
            db.engine.dispose(close=False)  # a beat forked by `worker --beat` opens connections of its own
        super().__init__(app, *args, **kwargs)

    def setup_schedule(self) -> None:
        """No entries in code or in a shelve file: the schedule table is the schedule."""

    def tick(self, *args: Any, **kwargs: Any) -> float:
        """Hold the lease and send what is due; the seconds to sleep before the next tick.

        SIGTERM and Ctrl-C wait for the tick to end: Celery's handler raises SystemExit wherever the
        beat is, and one raised inside a lease statement left its transaction open on PostgreSQL, so
        giving the lease up on the way out waited on that transaction for ever.
        """
        with signals_held(signal.SIGINT, signal.SIGTERM):
            try:
                with self.flask_app.app_context():
                    return self._tick()
            except Exception as exc:  # the database away for a moment: try again next tick
                logger.warning("beat: %s", reason(exc))
                self._lead(False)
                return POLL_SECONDS

    def _tick(self) -> float:
        now = utcnow()
        self._lead(take_lease(self.holder, self.lease_seconds, now))
        if not self.leading:
            return POLL_SECONDS
        _sent, soonest = send_due_runs(self.holder, now)
        if soonest is None:
            return POLL_SECONDS
        return max(0.0, min(POLL_SECONDS, (soonest - utcnow()).total_seconds()))

    def _lead(self, leading: bool) -> None:
        if leading != self.leading:
            what = "holds the lease: sending runs" if leading else "does not hold the lease: standing by"
            logger.info("beat %s %s", self.holder, what)
        self.leading = leading

    def close(self) -> None:
        """Give the lease up, so another beat takes over at once."""
        if self.leading:
            try:
                with self.flask_app.app_context():
                    release_lease(self.holder)
            except Exception as exc:  # it expires on its own
                logger.warning("beat: the lease was not released: %s", reason(exc))
        super().close()

    @property
    def info(self) -> str:
        return f"    . lease -> {self.lease_seconds:g} s (a standby beat takes over once it expires)"


def run_beat(loglevel: str) -> None:
    """Run ``celery beat`` for the current app (its scheduler: DatabaseScheduler) until it stops.

    A database behind the head revision is a ConfigError first: the beat would find no schedule table.
    """
    from project.migrations import migration_status

    state = migration_status()
    if not state["at_head"]:
        pending = len(state["pending"])
        raise ConfigError(
            f"the database is {pending} migration(s) behind: the beat needs its schedule tables",
            remedy=UPGRADE_DATABASE,
        )
    status = run_celery_command(current_celery(), ["beat", "--loglevel", loglevel])
    if status:
        raise ConfigError(f"the beat stopped (Celery exit status {status}): its log says why")


class BeatThread:
    """The beat as a thread of a worker (``appctl worker --beat``): Celery's ``EmbeddedService(thread=True)``."""

    def __init__(self, celery: Any) -> None:
        self.service = EmbeddedService(celery, thread=True, scheduler_cls=celery.conf.beat_scheduler)
        self.started = False

    def start(self) -> None:
        """Start ticking."""
        self.service.start()
        self.started = True

    def request_stop(self) -> None:
        """Ask it to stop after the current tick, without waiting (safe in a signal handler)."""
        self.service.service.stop(wait=False)

    def stop(self) -> None:
        """Stop after the current tick and wait, at most STOP_SECONDS; the scheduler gives the lease up."""
        self.request_stop()
        if self.started:
            self.service.join(timeout=STOP_SECONDS)
