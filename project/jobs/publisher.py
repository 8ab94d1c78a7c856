"""Publishing batches of jobs over one producer: one broker round trip per batch where the transport allows.

kombu's ``Producer.batch`` sends a batch as one Redis MULTI/EXEC transaction (project/broker/redis_transactions.py);
the embedded broker stores it in one SQLite transaction (project/broker/embedded_batch.py): a batch is
all in or all out. Other transports (RabbitMQ) publish each message at once.

When a batch's fate cannot be known, ``publish`` raises ``UnconfirmedBatch`` with the jobs that may have
reached the broker: the whole batch when Redis's answer to EXEC was lost, and on a transport that
publishes each message at once, the messages handed to the connection before it failed.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from celery import Task
from kombu.exceptions import BatchPublishError

from project.celery_internals.messages import MessageCopier, TaskMessages, publishes_in_batches
from project.ids import new_ids

SEND_BATCH_SIZE = 1000  # jobs per broker round trip in a bulk send


# JobToSend and SentJob are not frozen: a bulk send makes one of each per job, and a frozen
# dataclass's __init__ costs four times what a plain one's does.
@dataclass(slots=True)
class JobToSend:
    """One job to send: positional and keyword arguments, the input line it came from, its id if chosen."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    line: int | None = None
    id: str | None = None  # None: a new one (a unique send chooses it, to record the job before sending it)


@dataclass(slots=True)
class SentJob:
    """A job the broker has accepted: what the job history records."""

    id: str
    name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    queue: str | None
    eta: datetime | None = None  # not run before then (from --countdown or --eta)
    expires: datetime | None = None  # discarded if not started by then


class UnconfirmedBatch(Exception):
    """Jobs the broker may or may not have (the cause says why); the caller records and reports them."""

    def __init__(self, jobs: list[SentJob], lines: list[int | None]) -> None:
        super().__init__(f"{len(jobs)} job(s) of unknown fate")
        self.jobs = jobs
        self.lines = lines


class BatchPublisher:
    """Publishes jobs of one task, with one set of options, over ``producer``."""

    def __init__(
        self, task: Task, producer: Any, options: dict[str, Any], silent: Collection[Callable[..., Any]] = ()
    ) -> None:
        """``silent``: receivers of Celery's publish signals known to do nothing while this publisher works."""
        self.messages = TaskMessages(task, options, silent)
        self.producer = producer
        self.name = task.name

    def publish(self, jobs: Sequence[JobToSend]) -> list[SentJob]:
        """Publish ``jobs`` as one batch; when this returns the broker has them all."""
        fresh = iter(new_ids(sum(job.id is None for job in jobs)))
        ids = [job.id or next(fresh) for job in jobs]
        handed = 0  # messages passed to the producer
        try:
            with self.producer.batch(max_size=2 * len(jobs) + 2):  # flushed once, when the block ends
                for task_id, job in zip(ids, jobs, strict=True):
                    first = self.messages.template is None
                    self.messages.send(self.producer, task_id, job.args, job.kwargs)
                    handed += 1
                    if first and self.messages.copies_differ_by_job_only:
                        self.messages.copies = self._copier()
        except BatchPublishError as exc:  # the answer to the whole batch was lost
            raise UnconfirmedBatch(self._sent(ids, jobs), [job.line for job in jobs]) from exc
        except Exception as exc:
            if not publishes_in_batches(self.producer.channel):  # each went out, the failing one perhaps too
                maybe = jobs[: handed + 1]
                raise UnconfirmedBatch(self._sent(ids, maybe), [job.line for job in maybe]) from exc
            raise
        return self._sent(ids, jobs)

    def _copier(self) -> MessageCopier | None:
        """What publishes later messages as copies of the first, where the broker's channel offers one
        (Redis: project/broker/redis_transactions.py); None: each goes through ``Producer.publish``."""
        message_copies = getattr(self.producer.channel, "message_copies", None)
        return message_copies(self.producer, self.messages.publish_kwargs) if message_copies else None

    def _sent(self, ids: list[str], jobs: Sequence[JobToSend]) -> list[SentJob]:
        queue, (eta, expires) = self.messages.queue, self.messages.schedule()
        return [
            SentJob(task_id, self.name, job.args, job.kwargs, queue, eta, expires)
            for task_id, job in zip(ids, jobs, strict=False)
        ]
