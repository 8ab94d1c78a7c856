"""kombu's SQLAlchemy transport, fixed so options work and no job is lost with its worker.

Five fixes over ``kombu.transport.sqlalchemy`` (each override below names the kombu method it
replaces; checked against kombu 5.7.0):
- kombu hands every transport option to ``create_engine``, so options such as
  ``polling_interval`` made SQLAlchemy raise a TypeError; they are kept apart here.
- kombu marks a delivered message invisible and never looks at it again: acked rows pile up,
  and the job of a worker killed before it acked is lost. Here an ack deletes the row, a
  requeue makes it visible again, and every ``unacked_restore_interval`` seconds a consumer
  makes visible the rows delivered more than ``visibility_timeout`` seconds ago that it does
  not hold itself (the jobs of dead workers), like kombu's Redis transport does.
- kombu guards creating its tables and a queue's row with a lock of its own process only: a
  worker and a ``task send`` started together both created them, and the loser's clash escaped
  (the worker died on start). Here the clash means another process won, and its work is used.
- kombu commits once per message; ``Producer.batch`` stores a batch in one transaction here
  (project/broker/embedded_batch.py), as the Redis transport sends one pipeline.
- kombu polls for messages until its timeout whatever happens, so a worker told to stop waited
  for the polling to end; here it ends at once.
"""

from __future__ import annotations

import threading
import time
from contextlib import suppress
from datetime import datetime, timedelta
from json import loads
from queue import Empty
from typing import Any

from celery.signals import worker_shutting_down
from kombu.transport import sqlalchemy as kombu_sqla
from sqlalchemy import create_engine, delete, text, update
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from project.bounds import DEFAULT_RESTORE_INTERVAL, DEFAULT_VISIBILITY_TIMEOUT
from project.broker.embedded_batch import PublishBatch

# Tries at creating kombu's tables while other processes create them too: each failed try means
# another process created one of them (two tables, two sequences on PostgreSQL) before this one.
_CREATE_TABLES_TRIES = 5

# Options kombu or this module reads; everything else is an engine option. kombu 5.7.0's
# ``Channel._engine_from_config`` pops the first nine itself: recheck them on a kombu upgrade.
_TRANSPORT_OPTIONS = {
    "queue_tablename",
    "message_tablename",
    "callback",
    "errback",
    "max_retries",
    "interval_start",
    "interval_step",
    "interval_max",
    "retry_errors",
    "polling_interval",
    "visibility_timeout",
    "unacked_restore_interval",
}


class Channel(kombu_sqla.Channel):
    """A SQLAlchemy channel that deletes acked messages and redelivers those of dead workers."""

    def __init__(self, connection: Any, **kwargs: Any) -> None:
        super().__init__(connection, **kwargs)
        options = connection.client.transport_options
        self.visibility_timeout = float(options.get("visibility_timeout", DEFAULT_VISIBILITY_TIMEOUT))
        self.restore_interval = float(options.get("unacked_restore_interval", DEFAULT_RESTORE_INTERVAL))
        self._rows: dict[str, int] = {}  # delivery tag -> message row, for the messages this channel holds
        self._next_restore = 0.0

    def _engine_from_config(self) -> Any:
        # Replaces kombu's, which passes this module's own options on to create_engine too.
        client = self.connection.client
        options = {k: v for k, v in client.transport_options.items() if k not in _TRANSPORT_OPTIONS}
        return create_engine(client.hostname, **options)

    def _open(self) -> Any:
        # Extends kombu's, whose ``create_all`` loses to another process creating the same table
        # ("already exists"); a later try finds the tables made and goes on.
        for _ in range(_CREATE_TABLES_TRIES - 1):
            with suppress(OperationalError, ProgrammingError, IntegrityError):
                return super()._open()
        return super()._open()

    def _get_or_create(self, queue: str) -> Any:
        # Extends kombu's, which lets the unique-name clash escape when another process inserts the
        # same queue between its lookup and its insert: then that process's row is the queue.
        try:
            return super()._get_or_create(queue)
        except IntegrityError:
            self.session.rollback()
            return self.session.query(self.queue_cls).filter(self.queue_cls.name == queue).one()

    def _get(self, queue: str, timeout: float | None = None) -> Any:
        # kombu 5.7.0's ``Channel._get``, copied with changes: SQLite takes its write lock first
        # (BEGIN IMMEDIATE), messages come in the order they were put (kombu orders by its
        # ``timestamp``, which is NULL until delivery: a message handed back went behind every other
        # on SQLite and before them on PostgreSQL; here it is next, as on Redis), and the row of a
        # delivered message is remembered, so that an ack deletes it and a dead worker's is restored
        # (``restore_expired``).
        if time.monotonic() >= self._next_restore:
            self.restore_expired()
        obj = self._get_or_create(queue)
        if self.session.bind.name == "sqlite":
            self.session.execute(text("BEGIN IMMEDIATE TRANSACTION"))
        try:
            message = (
                self.session.query(self.message_cls)
                .with_for_update()
                .filter(self.message_cls.queue_id == obj.id, self.message_cls.visible != False)  # noqa: E712
                .order_by(self.message_cls.id)
                .first()
            )
            if message is None:
                raise Empty()
            message.visible = False
            payload = loads(message.payload)
            self._rows[payload["properties"]["delivery_tag"]] = message.id
            return payload
        finally:
            self.session.commit()

    def restore_expired(self) -> None:
        """Make visible again the messages delivered too long ago to a consumer that never acked."""
        self._next_restore = time.monotonic() + self.restore_interval
        cutoff = datetime.now() - timedelta(seconds=self.visibility_timeout)
        table = self.message_cls.__table__
        stale = (table.c.visible == False) & (table.c.timestamp < cutoff)  # noqa: E712
        held = list(self._rows.values())
        if held:
            stale &= table.c.id.notin_(held)
        with self._engine().begin() as connection:
            connection.execute(update(table).where(stale).values(visible=True))

    def basic_ack(self, delivery_tag: str, multiple: bool = False) -> None:
        super().basic_ack(delivery_tag, multiple)
        self._forget(delivery_tag)

    def basic_reject(self, delivery_tag: str, requeue: bool = False) -> None:
        super().basic_reject(delivery_tag, requeue)  # a requeue goes through _restore below
        self._forget(delivery_tag)

    def _restore(self, message: Any) -> None:
        # Replaces kombu's requeue by a new row: the held row becomes visible again instead.
        row = self._rows.pop(message.delivery_tag, None)
        if row is None:
            super()._restore(message)
            return
        table = self.message_cls.__table__
        with self._engine().begin() as connection:
            connection.execute(update(table).where(table.c.id == row).values(visible=True))

    def _forget(self, delivery_tag: str) -> None:
        """Delete the row of a message that is done with (acked, or rejected without requeue)."""
        row = self._rows.pop(delivery_tag, None)
        if row is not None:
            table = self.message_cls.__table__
            with self._engine().begin() as connection:
                connection.execute(delete(table).where(table.c.id == row))

    def _engine(self) -> Any:
        # A connection of its own: acks can come from pool threads, the session is not thread-safe.
        engine, _ = self._open()
        return engine

    def create_publish_batch(self, max_size: int) -> PublishBatch:
        """kombu's ``Producer.batch`` hook: the batch's messages are stored in one transaction."""
        return PublishBatch(self, max_size)

    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]
        # Extends kombu's: inside a ``Producer.batch`` the message is kept for one insert.
        batch = kwargs.pop("_publish_batch", None)
        if batch is None:
            super()._put(queue, payload, **kwargs)
        else:
            batch.add(queue, payload)


# Set once the worker this process runs is told to stop (warm or cold): no drain waits any more.
_worker_stopping = threading.Event()


def _stop_polling(**_: Any) -> None:
    """worker_shutting_down (sent by the stop signal's handler in the worker's main process)."""
    _worker_stopping.set()


class Transport(kombu_sqla.Transport):
    """The ``sqla+`` transport with working options and redelivery of unacked messages."""

    Channel = Channel

    def __init__(self, client: Any, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        worker_shutting_down.connect(_stop_polling, weak=False, dispatch_uid="appctl.embedded.stop_polling")

    def drain_events(self, connection: Any, timeout: Any = None, **kwargs: Any) -> None:
        # Replaces kombu's virtual ``Transport.drain_events``, which polls until ``timeout`` whatever
        # happens. Celery's loop for this transport (``synloop``) drains for 2 s at a time, and once
        # more after a stop was asked: an idle worker took 4 s more to stop than on Redis. Here the
        # polling ends as soon as the worker is told to stop (Celery's ``worker_shutting_down`` signal).
        cycle: Any = self.cycle
        started, interval = time.monotonic(), self.polling_interval
        if timeout and interval and interval > timeout:
            interval = timeout
        while not _worker_stopping.is_set():
            try:
                cycle.get(self._deliver, timeout=timeout)
                return
            except Empty:
                if timeout is not None and time.monotonic() - started >= timeout:
                    break
                if interval is not None:
                    time.sleep(interval)
        raise TimeoutError  # socket.timeout, as kombu raises it

    def establish_connection(self) -> Any:
        # Extends kombu's, which "connects" without reaching the database: a worker whose broker
        # database was down reconnected at once, failed on its first read, and restarted its consumer
        # five times a second. Reaching the database here lets Celery's reconnect backoff apply.
        connection = super().establish_connection()
        engine, _ = self._avail_channels[-1]._open()
        with engine.connect():
            pass
        return connection
