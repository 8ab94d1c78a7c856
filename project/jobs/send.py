"""Sending jobs: one (``send_job``), or many from JSON lines in batches (``send_from_lines``).

One trip goes down the layers: the task and its arguments are checked (registry, job_file), the
publisher builds and publishes the messages (publisher → celery_internals.messages → the broker),
and the history hears of what the broker accepted through the app's one writer (history.write).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from threading import Event
from typing import IO, Any, TypeVar

from celery import Task
from flask import current_app
from kombu.exceptions import BatchPublishError

from project.errors import FateUnknown, InvalidInput, ServiceUnavailable
from project.failures import publish_errors, service_errors, unavailable
from project.ids import new_ids
from project.interrupts import interrupts_held
from project.jobs.history.signals import SILENCED_BY_CALLER, recorded_by_caller
from project.jobs.history.values import UNKNOWN
from project.jobs.history.write import RecordingBehind, record_sent, record_sent_rows, sent_rows
from project.jobs.job_file import job_batches
from project.jobs.names import check_queue_name
from project.jobs.publisher import SEND_BATCH_SIZE, BatchPublisher, JobToSend, SentJob, UnconfirmedBatch
from project.jobs.registry import ArgumentChecker, check_arguments, current_celery, resolve_task


@dataclass(frozen=True)
class SendOptions:
    """When and where jobs go: what ``apply_async`` takes besides the arguments."""

    countdown: float | None = None
    eta: datetime | None = None
    expires: float | datetime | None = None
    queue: str | None = None

    def __post_init__(self) -> None:
        check_queue_name(self.queue)


@contextmanager
def publishing(task: Task, options: SendOptions, schedule: str | None = None) -> Iterator[BatchPublisher]:
    """A publisher over one producer; broker failures become ServiceUnavailable.

    Jobs whose fate is unknown are recorded as UNKNOWN (runs of ``schedule``, if given) and named by FateUnknown.
    """
    url = current_app.config["CELERY_BROKER_URL"]
    try:
        with service_errors("broker", url), current_celery().producer_or_acquire() as producer, recorded_by_caller():
            yield BatchPublisher(task, producer, asdict(options), silent=SILENCED_BY_CALLER)
    except UnconfirmedBatch as exc:
        record_sent(exc.jobs, state=UNKNOWN, schedule=schedule)
        cause = exc.__cause__ or exc
        failure = unavailable("broker", url, cause.__cause__ or cause).message
        unknown = f"{_unknown_jobs(exc)} of unknown fate (ids in the history as {UNKNOWN})"
        raise FateUnknown(failure, unknown, ids=[job.id for job in exc.jobs]) from exc
    except BatchPublishError as exc:  # kombu: sending a batch failed; the cause says why
        raise unavailable("broker", url, exc.__cause__ or exc) from exc


def _unknown_jobs(exc: UnconfirmedBatch) -> str:
    """The lines of a run from a file (``line 7``; first and last, joined by an en dash), else the ids."""
    lines = [line for line in exc.lines if line is not None]
    if not lines:
        return f"job{'s' if len(exc.jobs) != 1 else ''} {', '.join(job.id for job in exc.jobs)}"
    first, last = min(lines), max(lines)
    return f"line {first}" if first == last else f"lines {first}\u2013{last}"


def send_job(
    name: str,
    args: Iterable[Any] = (),
    kwargs: dict[str, Any] | None = None,
    *,
    countdown: float | None = None,
    eta: datetime | None = None,
    expires: float | datetime | None = None,
    queue: str | None = None,
    to_wait_for: bool = False,
    schedule: str | None = None,
) -> str:
    """Check ``name`` and the arguments, send one job and return its id.

    ``to_wait_for``: the caller waits for the result next, so the job goes through ``apply_async``,
    which reaches the result backend first (on Redis it subscribes to the result): a dead backend
    fails before anything is sent, and a Redis result arrives as a notification.
    ``schedule``: the job is a run of that schedule, and the history says so.
    """
    task = resolve_task(name)
    job = JobToSend(tuple(args), dict(kwargs or {}))
    check_arguments(task, list(job.args), job.kwargs)
    options = SendOptions(countdown=countdown, eta=eta, expires=expires, queue=queue)
    if to_wait_for:
        config = current_app.config
        with publish_errors(config["CELERY_BROKER_URL"], config["CELERY_RESULT_BACKEND"]):
            given = {key: value for key, value in asdict(options).items() if value is not None}
            [task_id] = new_ids(1)
            return str(task.apply_async(job.args, job.kwargs, task_id=task_id, **given).id)
    with publishing(task, options, schedule) as publisher, interrupts_held():
        sent = publisher.publish([job])
        record_sent(sent, schedule=schedule)
    return sent[0].id


# Batches a bulk send may publish before the history has recorded the oldest of them: the history
# thread records the batches waiting for it in one transaction (on SQLite a commit of 4,000 rows costs
# little more than one of 1,000). A batch is yielded as soon as it is recorded.
RECORDING_AHEAD = 4
B = TypeVar("B")  # a batch to publish
T = TypeVar("T")  # what publishing it reports


def send_batches(task: Task, batches: Iterable[list[JobToSend]], options: SendOptions) -> Iterator[list[SentJob]]:
    """Send each batch of (checked) jobs as one; yield each once the broker has it and the history too
    (``published_and_recorded``); a short batch (the input paused, or ended) is yielded without waiting
    for more input."""
    with publishing(task, options) as publisher:

        def publish(jobs: list[JobToSend]) -> tuple[list[SentJob], list[dict[str, Any]]]:
            sent = publisher.publish(jobs)
            return sent, sent_rows(sent)

        yield from published_and_recorded(batches, publish, caught_up=lambda jobs: len(jobs) < SEND_BATCH_SIZE)


def published_and_recorded(
    batches: Iterable[B],
    publish: Callable[[B], tuple[T, list[dict[str, Any]]]],
    write: Callable[[list[dict[str, Any]]], None] = record_sent_rows,
    caught_up: Callable[[B], bool] = lambda batch: False,
) -> Iterator[T]:
    """``publish`` each batch (what it reports, and the history rows to ``write``); yield each report,
    in order, once its rows are recorded.

    The rows are written in a thread (RecordingBehind) while the next batches are published, so a
    batch the broker refused leaves no history behind, and a report the caller prints names jobs
    ``task status`` knows. Ctrl-C is held back from publishing a batch until it is handed to the
    history; the batches sent before an interruption or a failure are still recorded and yielded, so
    an interrupted run has sent, recorded and reported the same jobs. ``caught_up(batch)``: yield
    every batch sent so far without waiting for the next one.
    """
    recorder = RecordingBehind(write)
    unreported: deque[tuple[T, Event]] = deque()  # sent and handed to the history, not yet yielded
    try:
        for batch in batches:
            with interrupts_held():
                report, rows = publish(batch)
                unreported.append((report, recorder.record(rows)))
            flush = caught_up(batch)
            while unreported and (flush or len(unreported) > RECORDING_AHEAD or unreported[0][1].is_set()):
                with interrupts_held():
                    yield _once_recorded(unreported)
        while unreported:  # every batch is sent: the last ones, once recorded
            with interrupts_held():
                yield _once_recorded(unreported)
    except GeneratorExit:
        raise
    except BaseException:  # a Ctrl-C held back while a batch was handed out ends up here too
        while unreported:  # what was sent before the failure or the interruption
            yield _once_recorded(unreported)
        raise
    finally:
        recorder.close()


def _once_recorded(unreported: deque[tuple[T, Event]]) -> T:
    """The oldest report of ``unreported``, taken off once the history has its batch."""
    report, recorded = unreported[0]
    recorded.wait()  # bounded by the database's timeouts
    unreported.popleft()
    return report


KEPT_CHECKED_JOBS = 50_000  # a file of up to this many jobs is read and checked once, and kept in memory


def check_file(task: Task, stream: IO[bytes]) -> tuple[int, list[list[JobToSend]] | None]:
    """Check every line of ``stream`` (InvalidInput names the first bad one): how many jobs it holds,
    and its checked batches when there are at most KEPT_CHECKED_JOBS (else None: read it again)."""
    total, kept = 0, []
    try:
        for jobs in checked_batches(job_batches(stream), ArgumentChecker(task)):
            total += len(jobs)
            if total <= KEPT_CHECKED_JOBS:
                kept.append(jobs)
    except InvalidInput as exc:
        raise InvalidInput(exc.and_then("nothing was sent"), hint=exc.hint, remedy=exc.remedy) from None
    return total, kept if total <= KEPT_CHECKED_JOBS else None


def send_from_lines(name: str, stream: IO[bytes], **when: Any) -> tuple[int | None, Iterator[list[SentJob]]]:
    """Jobs of ``name``, one a JSON line, sent in batches: ``(total, batches as sent)``.

    A file (seekable) is checked whole first, so a bad line sends nothing and the total is known;
    from a pipe a bad line stops the run after the jobs before it were sent. ``when`` holds
    ``send_job``'s options (countdown, eta, expires, queue).
    """
    task = resolve_task(name)
    options = SendOptions(**when)
    total, kept = None, None
    if stream.seekable():
        start = stream.tell()
        total, kept = check_file(task, stream)
        stream.seek(start)
    batches = kept if kept is not None else checked_batches(job_batches(stream), ArgumentChecker(task))
    return total, _sent_counting(send_batches(task, batches, options))


def checked_batches(batches: Iterable[list[JobToSend]], checker: ArgumentChecker) -> Iterator[list[JobToSend]]:
    """The batches, each job's arguments checked; a bad one raises InvalidInput naming its line,
    after the jobs before it were yielded."""
    for batch in batches:
        for index, job in enumerate(batch):
            try:
                checker.check(job.args, job.kwargs)
            except InvalidInput as exc:
                if index:
                    yield batch[:index]
                raise InvalidInput(f"line {job.line}: {exc.message}") from None
        yield batch


def _sent_counting(batches: Iterator[list[SentJob]]) -> Iterator[list[SentJob]]:
    """Pass the batches on; an error says how many jobs were sent before it.

    An input without a single job (empty, blank lines) is InvalidInput, as an import of no users is:
    a run that sends nothing is more likely a wrong file than a wish.
    """
    sent = 0
    try:
        for jobs in batches:
            sent += len(jobs)
            yield jobs
    except FateUnknown as exc:
        done = f"{sent} job{'s' if sent != 1 else ''} sent before it"
        failure = f"{exc.failure.rstrip('.')}; {done}"
        raise FateUnknown(failure, exc.unknown, hint=exc.hint, remedy=exc.remedy, ids=exc.ids) from exc
    except (InvalidInput, ServiceUnavailable) as exc:
        done = f"{sent} job{'s' if sent != 1 else ''} sent before it"
        raise type(exc)(exc.and_then(done), hint=exc.hint, remedy=exc.remedy) from exc
    if sent == 0:
        raise InvalidInput("no jobs in the input (it is empty or holds blank lines only); nothing was sent")
