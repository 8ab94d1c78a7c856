"""The embedded broker's queues: kombu's SQLAlchemy tables read and emptied with SQL.

kombu 5.7.0's SQLAlchemy transport keeps one row per queue (``kombu_queue``) and one per message
(``kombu_message``: ``visible`` false once delivered; project/broker/embedded.py deletes the row on
ack). A taken chunk is marked delivered (``visible`` false, ``timestamp`` now), exactly as a worker's
delivery marks it, so a consumer's ``restore_expired`` makes it visible again if the taker dies;
removed for good, its rows are deleted, as an ack deletes them. Checked against kombu 5.7.0.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, func, select, update

from project.broker.queues import CHUNK, QueueCounts, QueuedJob, job_of


class EmbeddedQueues:
    """``QueueAccess`` (project/broker/queues.py) over an embedded-broker channel."""

    def __init__(self, channel: Any) -> None:
        self.engine = channel._engine()  # creates kombu's tables when they do not exist yet
        self.messages: Table = channel.message_cls.__table__
        self.queues: Table = channel.queue_cls.__table__

    def queue_names(self) -> set[str]:
        """The queues with messages in them, waiting or delivered."""
        query = select(self.queues.c.name).where(
            self.queues.c.id.in_(select(self.messages.c.queue_id).distinct().scalar_subquery())
        )
        with self.engine.connect() as conn:
            return set(conn.scalars(query))

    def _queue_id(self, conn: Any, queue: str) -> int | None:
        queue_id: int | None = conn.scalar(select(self.queues.c.id).where(self.queues.c.name == queue))
        return queue_id

    def counts(self, queue: str) -> QueueCounts:
        """Visible rows wait; invisible ones are delivered and not acked. Consumers: not kept here."""
        with self.engine.connect() as conn:
            queue_id = self._queue_id(conn, queue)
            if queue_id is None:
                return QueueCounts(queue, 0, 0, None)
            counted = select(self.messages.c.visible, func.count()).where(self.messages.c.queue_id == queue_id)
            by_visibility = {
                visible: count for visible, count in conn.execute(counted.group_by(self.messages.c.visible))
            }
            head = conn.scalar(self._waiting(queue_id).with_only_columns(self.messages.c.payload).limit(1))
        job = job_of(head) if head is not None else None
        return QueueCounts(
            queue, by_visibility.get(True, 0), by_visibility.get(False, 0), None, [job.id] if job else []
        )

    def _waiting(self, queue_id: int, after: int = 0) -> Any:
        """The waiting messages of a queue in the order the embedded broker delivers them (embedded.py)."""
        table = self.messages
        return (
            select(table.c.id, table.c.payload)
            .where(table.c.queue_id == queue_id, table.c.visible.is_(True), table.c.id > after)
            .order_by(table.c.id)
        )

    def _chunks(self, queue: str, task: str | None) -> Iterator[list[tuple[int, QueuedJob]]]:
        """The waiting messages of ``queue`` (``task``'s only), a chunk at a time, in delivery order."""
        with self.engine.connect() as conn:
            queue_id = self._queue_id(conn, queue)
        if queue_id is None:
            return
        after = 0
        while True:
            query = self._waiting(queue_id, after).limit(CHUNK)
            with self.engine.connect() as conn:
                rows = conn.execute(query).all()
            if not rows:
                return
            after = rows[-1].id
            jobs = [(row.id, job_of(row.payload)) for row in rows]
            chunk = [(row, job) for row, job in jobs if job is not None and (task is None or job.name == task)]
            if chunk:
                yield chunk

    def peek(self, queue: str, task: str | None) -> Iterator[QueuedJob]:
        """The waiting jobs, left in place."""
        for chunk in self._chunks(queue, task):
            yield from (job for _, job in chunk)

    def take(self, queue: str, task: str | None) -> Generator[list[QueuedJob]]:
        """The waiting jobs, held a chunk at a time (see project/broker/queues.py)."""
        table = self.messages
        for chunk in self._chunks(queue, task):
            wanted = {row: job for row, job in chunk}
            hold = (
                update(table)
                .where(table.c.id.in_(list(wanted)), table.c.visible.is_(True))  # a worker may have taken some
                .values(visible=False, timestamp=datetime.now())  # naive local time, as kombu's own column
                .returning(table.c.id)
            )
            with self.engine.begin() as conn:
                held = sorted(conn.scalars(hold))
            try:
                yield [wanted[row] for row in held]
            except GeneratorExit:
                with self.engine.begin() as conn:
                    conn.execute(update(table).where(table.c.id.in_(held)).values(visible=True))
                raise
            with self.engine.begin() as conn:
                conn.execute(delete(table).where(table.c.id.in_(held)))
