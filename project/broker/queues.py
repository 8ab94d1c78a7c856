"""What a queue holds, asked of each broker in its own terms: one module per broker.

- ``embedded_queues``: kombu's SQLAlchemy tables (the embedded default, ``sqla+`` URLs).
- ``redis_queues``: kombu's Redis lists and its ``unacked`` hash.
- ``amqp_queues``: RabbitMQ, through AMQP alone (passive ``queue_declare``, ``basic_get``).

Each gives the same ``QueueAccess``: the queues it holds messages in, the counts of one queue, and
its jobs taken in chunks. A taken chunk is held the way a worker holds a delivered job (unacked):
it is removed for good only once the caller asks for the next chunk, and a process that dies
holding one leaves it to be redelivered, as a dead worker's job is.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from kombu import Connection

from project.errors import InvalidInput

CHUNK = 1000  # jobs taken, marked and removed at a time: memory stays bounded on any queue


@dataclass
class QueueCounts:
    """One queue as the broker sees it; None where this broker cannot tell."""

    name: str
    waiting: int
    reserved: int | None  # delivered to a worker, not yet acknowledged
    consumers: int | None
    next_ids: list[str] = field(default_factory=list)  # the ids of the jobs to be delivered next


@dataclass(frozen=True)
class QueuedJob:
    """A job message in a queue: its id and task name (from the message's headers)."""

    id: str
    name: str | None


class QueueAccess(Protocol):
    """A broker's queues, read and emptied (see the module's docstring)."""

    def queue_names(self) -> set[str]:
        """The job queues holding messages that the broker can list (RabbitMQ: none without its HTTP API)."""
        ...

    def counts(self, queue: str) -> QueueCounts:
        """The counts of ``queue`` (zero for a queue the broker does not have)."""
        ...

    def take(self, queue: str, task: str | None) -> Generator[list[QueuedJob]]:
        """The waiting jobs of ``queue`` (only ``task``'s), held a chunk at a time; each chunk is removed
        for good when the next is asked for; closing the iterator early puts the held chunk back."""
        ...

    def peek(self, queue: str, task: str | None) -> Iterator[QueuedJob]:
        """The waiting jobs of ``queue`` (only ``task``'s), left where they are."""
        ...


def job_of(payload: Any) -> QueuedJob | None:
    """The job a kombu message (dict or JSON text) carries, or None for a message that is not a Celery job."""
    if isinstance(payload, str | bytes):
        try:
            payload = json.loads(payload)
        except ValueError:
            return None
    headers = payload.get("headers") if isinstance(payload, dict) else None
    if not isinstance(headers, dict) or not headers.get("id"):
        return None
    return QueuedJob(str(headers["id"]), headers.get("task"))


def queue_access(connection: Connection) -> QueueAccess:
    """The ``QueueAccess`` of the broker ``connection`` leads to."""
    driver = connection.transport.driver_type
    if driver == "redis":
        from project.broker.redis_queues import RedisQueues

        return RedisQueues(connection.default_channel)
    if driver == "sql":
        from project.broker.embedded_queues import EmbeddedQueues

        return EmbeddedQueues(connection.default_channel)
    if driver == "amqp":
        from project.broker.amqp_queues import AmqpQueues

        return AmqpQueues(connection)
    raise InvalidInput(f"queues cannot be read on the {driver!r} broker: only Redis, RabbitMQ and the embedded one")
