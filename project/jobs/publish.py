"""Publishing batches of jobs over one producer: one broker round trip per batch where the transport allows.

kombu's ``Producer.batch`` sends a batch as one Redis pipeline; the embedded broker stores it in one
transaction (project/jobs/embedded_batch.py); other transports publish each message at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from celery import Task, signals
from kombu.utils.uuid import uuid

from project.jobs.messages import MessageFactory

BATCH_SIZE = 1000


@dataclass(frozen=True)
class Job:
    """One job to send: positional and keyword arguments, and the input line it came from."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    line: int | None = None


@dataclass(frozen=True)
class SentJob:
    """A job the broker has accepted: what the job history records."""

    id: str
    name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    queue: str | None


class BatchPublisher:
    """Publishes jobs of one task, with one set of options, over ``producer``."""

    def __init__(self, task: Task, producer: Any, options: dict[str, Any]) -> None:
        self.factory = MessageFactory(task, options)
        self.producer = producer
        self.name = task.name

    def publish(self, jobs: Sequence[Job]) -> list[SentJob]:
        """Publish ``jobs`` as one batch; when this returns the broker has them all."""
        ids = [uuid() for _ in jobs]
        with self.producer.batch(max_size=2 * len(jobs) + 2):  # flushed once, when the block ends
            for task_id, job in zip(ids, jobs, strict=True):
                self._publish_one(task_id, job)
        queue = self.factory.publish_kwargs.get("routing_key")
        return [
            SentJob(task_id, self.name, job.args, job.kwargs, queue) for task_id, job in zip(ids, jobs, strict=True)
        ]

    def _publish_one(self, task_id: str, job: Job) -> None:
        factory = self.factory
        if not factory.can_copy():
            factory.send_with_celery(self.producer, task_id, job.args, job.kwargs)
            return
        body, kwargs = factory.message(task_id, job.args, job.kwargs)
        # Celery's signals, as send_task_message sends them (receivers may add headers).
        if signals.before_task_publish.receivers:
            signals.before_task_publish.send(
                sender=self.name,
                body=body,
                exchange=kwargs["exchange"],
                routing_key=kwargs["routing_key"],
                declare=[],
                headers=kwargs["headers"],
                properties={"correlation_id": task_id, "reply_to": kwargs.get("reply_to")},
                retry_policy=kwargs.get("retry_policy"),
            )
        self.producer.publish(body, **kwargs)
        if signals.after_task_publish.receivers:
            signals.after_task_publish.send(
                sender=self.name,
                body=body,
                headers=kwargs["headers"],
                exchange=kwargs["exchange"],
                routing_key=kwargs["routing_key"],
            )
