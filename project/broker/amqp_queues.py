"""RabbitMQ's queues through AMQP alone (no management plugin): what a passive declare tells.

``queue.declare`` with ``passive`` answers the messages ready and the consumers; RabbitMQ tells
nothing over AMQP about unacked messages, nor lists its queues, nor shows a message without
delivering it (a delivered and requeued message comes back marked redelivered). So: reserved
is unknown (None), the next ids are not read, only queues named elsewhere are listed, and
``peek`` is refused. ``take`` uses ``basic_get`` without ack: a held chunk goes back to the queue
if the channel closes first, as a dead worker's job does; jobs of other tasks (``--name``) are
held until the end and then given back with ``basic.recover``, in their place.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from contextlib import closing
from typing import Any

from kombu import Connection

from project.broker.queues import CHUNK, QueueCounts, QueuedJob
from project.errors import InvalidInput


class AmqpQueues:
    """``QueueAccess`` (project/broker/queues.py) over an AMQP connection."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def queue_names(self) -> set[str]:
        """None: AMQP cannot list queues."""
        return set()

    def counts(self, queue: str) -> QueueCounts:
        """Ready messages and consumers from a passive declare; zero for a queue RabbitMQ does not have."""
        with closing(self.connection.channel()) as channel:  # a failed passive declare closes its channel
            try:
                _, ready, consumers = channel.queue_declare(queue=queue, passive=True)
            except self.connection.channel_errors:
                return QueueCounts(queue, 0, None, 0)
        return QueueCounts(queue, ready, None, consumers)

    def peek(self, queue: str, task: str | None) -> Iterator[QueuedJob]:
        """Refused: RabbitMQ shows a message only by delivering it."""
        raise InvalidInput("RabbitMQ cannot show a queue's jobs without taking them, so there is no dry run there")

    def take(self, queue: str, task: str | None) -> Generator[list[QueuedJob]]:
        """The waiting jobs, held a chunk at a time (see project/broker/queues.py)."""
        with closing(self.connection.channel()) as channel:
            if not self._exists(queue):
                return
            others = False
            while True:
                jobs, tags, passed_over = self._get_chunk(channel, queue, task)
                others = others or passed_over
                if not jobs:
                    break
                yield jobs  # on GeneratorExit the channel closes: RabbitMQ requeues what it holds
                for tag in tags:
                    channel.basic_ack(tag)
            if others:
                channel.basic_recover(requeue=True)

    def _exists(self, queue: str) -> bool:
        with closing(self.connection.channel()) as channel:
            try:
                channel.queue_declare(queue=queue, passive=True)
            except self.connection.channel_errors:
                return False
        return True

    def _get_chunk(self, channel: Any, queue: str, task: str | None) -> tuple[list[QueuedJob], list[Any], bool]:
        """Up to CHUNK jobs of ``task`` (None: any), their delivery tags, and whether messages of other
        tasks were passed over (they stay held until the end); no jobs when the queue has no more."""
        jobs: list[QueuedJob] = []
        tags: list[Any] = []
        passed_over = False
        while len(jobs) < CHUNK:
            message = channel.basic_get(queue=queue, no_ack=False)
            if message is None:
                break
            headers = message.headers or {}
            job = QueuedJob(str(headers["id"]), headers.get("task")) if headers.get("id") else None
            if job is None or (task is not None and job.name != task):
                passed_over = True
                continue
            jobs.append(job)
            tags.append(message.delivery_tag)
        return jobs, tags, passed_over
