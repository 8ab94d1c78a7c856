"""Unique sends (``task send --unique``): a job is sent only while no unfinished job holds its key.

The database takes the key, not a read followed by a write: the job's history row goes in first,
with ``INSERT … ON CONFLICT DO NOTHING`` against the partial unique index ``ix_jobs_unique_key_live``
(migration 0005: a key held by a job in LIVE_STATES), and only the process whose row went in
publishes. Of processes racing with one key, one sends; the others report its job.

The row goes in as UNKNOWN (perhaps queued) and becomes PENDING once the broker has the job:
- the broker refused it: the row is deleted, as every refused send leaves no history; the key is free;
- the broker's answer was lost, or the process died in between: the row stays UNKNOWN and keeps the
  key, since the job may be queued (a worker that runs it records its course, and its end frees the key).
  A unique send then refuses with Conflict naming it; revoking it frees the key.
A send that finds the key held by an UNKNOWN row younger than the longest send (project/bounds.py)
waits for it to settle: another process is sending that job at this moment.

A holder whose history is behind (the worker's record of its end was lost; the result backend knows
the outcome) is first settled from the result backend, so a finished job never keeps its key.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from celery import Task
from flask import current_app
from kombu.utils.uuid import uuid

from project.errors import AppctlError, Conflict, FateUnknown, InvalidInput, ServiceUnavailable, TimedOut
from project.failures import publish_errors, unavailable
from project.interrupts import interrupts_held
from project.jobs.history.values import FINISHED_STATES, LIVE_STATES, UNKNOWN, bounded_json, sent_row, utcnow
from project.jobs.history.write import HISTORY, HistoryWriter, history_guard
from project.jobs.publisher import JobToSend, SentJob
from project.jobs.registry import check_arguments, resolve_task
from project.jobs.send import SendOptions, publishing

logger = logging.getLogger("appctl.unique")

KEY_LENGTH = 255  # the length of jobs.unique_key
HASHED_KEY_PREFIX = "sha256:"  # a key --unique computes, so it never equals a key given by name
SETTLE_POLL = 0.02  # seconds between reads of a key another process is taking


def unique_key_for(task_name: str, args: Iterable[Any], kwargs: Mapping[str, Any]) -> str:
    """The key of ``--unique``: a hash of the full task name and the canonical JSON of the arguments."""
    canonical = json.dumps(
        {"task": task_name, "args": list(args), "kwargs": dict(kwargs)},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return HASHED_KEY_PREFIX + hashlib.sha256(canonical.encode()).hexdigest()


def check_unique_key(key: str) -> str:
    """``key`` when it can be stored as a unique key: 1 to 255 printable characters, not all blank."""
    if not key.strip() or len(key) > KEY_LENGTH or not key.isprintable():
        raise InvalidInput(f"unique key {key!r} is not valid: give 1 to {KEY_LENGTH} printable characters")
    return key


def send_unique_job(
    name: str,
    args: Iterable[Any] = (),
    kwargs: dict[str, Any] | None = None,
    *,
    key: str | None = None,
    countdown: float | None = None,
    eta: datetime | None = None,
    expires: float | datetime | None = None,
    queue: str | None = None,
    to_wait_for: bool = False,
) -> dict[str, Any]:
    """Send the job unless an unfinished job holds its unique key (``key``, else the hash of the task
    and its arguments): ``{id, state, sent, unique_key}`` of the job sent, or of the one holding the key.

    Conflict when the holder's fate is unknown (see the module's notes); the rest as ``send_job``.
    """
    task = resolve_task(name)
    job = JobToSend(tuple(args), dict(kwargs or {}), id=uuid())
    check_arguments(task, list(job.args), job.kwargs)
    options = SendOptions(countdown=countdown, eta=eta, expires=expires, queue=queue)
    key = check_unique_key(key) if key is not None else unique_key_for(task.name, job.args, job.kwargs)
    claims = UniqueClaims(current_app.extensions[HISTORY], current_app.config)
    row = {**sent_row(str(job.id), task.name, list(job.args), job.kwargs, None, state=UNKNOWN), "unique_key": key}
    try:
        holder = claims.take(key, row)
    except KeyboardInterrupt:
        claims.release(str(job.id))  # the row may have gone in just before Ctrl-C; nothing was sent
        raise
    if holder is not None:
        return {"id": holder["id"], "state": holder["state"], "sent": False, "unique_key": key}
    with interrupts_held():  # Ctrl-C waits until the claim is settled
        try:
            sent = _publish(task, job, options, to_wait_for)
        except FateUnknown:
            raise  # the row stays UNKNOWN, holding the key: the job may be queued
        except BaseException:
            claims.release(str(job.id))
            raise
        claims.confirm(str(job.id), sent)
    return {"id": job.id, "state": "PENDING", "sent": True, "unique_key": key}


def _publish(task: Task, job: JobToSend, options: SendOptions, to_wait_for: bool) -> SentJob | None:
    """Publish ``job`` under its id: what the broker has (None through ``apply_async``, whose signal records it)."""
    if to_wait_for:  # as send_job: apply_async reaches the result backend first
        config = current_app.config
        with publish_errors(config["CELERY_BROKER_URL"], config["CELERY_RESULT_BACKEND"]):
            given = {name: value for name, value in asdict(options).items() if value is not None}
            task.apply_async(job.args, job.kwargs, task_id=job.id, **given)
        return None
    with publishing(task, options) as publisher:
        return publisher.publish([job])[0]


class UniqueClaims:
    """Taking, settling and giving back unique keys through the app's history writer."""

    def __init__(self, writer: HistoryWriter, config: Mapping[str, Any]) -> None:
        self.writer = writer
        self.database_url: str = config["DATABASE_URL"]
        self.longest_send = timedelta(seconds=config["LONGEST_SEND"])

    def take(self, key: str, row: dict[str, Any]) -> dict[str, Any] | None:
        """Insert ``row`` holding ``key``: None when it went in, else the live job that holds the key.

        Conflict when that job's fate is unknown; TimedOut when the key never settles within the longest send.
        """
        deadline = time.monotonic() + self.longest_send.total_seconds()
        while True:
            with self._database():
                if self.writer.claim(row):
                    return None
                holder = self.writer.holder(key)
            while holder is not None and self._in_flight(holder) and time.monotonic() < deadline:
                time.sleep(SETTLE_POLL)  # another process is sending it right now: wait for its outcome
                with self._database():
                    holder = self.writer.holder(key)
            if holder is not None:
                holder = self._settle_from_backend(holder)
                if holder["state"] == UNKNOWN:
                    raise unknown_holder(key, holder["id"])
                if holder["state"] not in FINISHED_STATES:
                    return holder
            if time.monotonic() >= deadline:  # the key was freed and taken again all along
                raise TimedOut(f"the unique key {key!r} did not settle within {self.longest_send.total_seconds():g}s")

    def confirm(self, task_id: str, sent: SentJob | None) -> None:
        """The broker has the job: its row gets the queue and schedule, and UNKNOWN becomes PENDING
        (a worker that already recorded more keeps what it recorded)."""
        with history_guard("sending", [task_id]):
            if sent is not None:
                self.writer.record_sent([sent_fields(sent)])  # fills what is still empty; keeps the state
            self.writer.settle(task_id, (UNKNOWN,), {"state": "PENDING"})

    def release(self, task_id: str) -> None:
        """The broker refused the job: delete its row, which frees the key (a failure only warns)."""
        with history_guard("refusal", [task_id]):
            self.writer.release(task_id, UNKNOWN)

    def _in_flight(self, holder: dict[str, Any]) -> bool:
        """An UNKNOWN holder whose send may still be going on."""
        sent_at = holder["sent_at"]
        return holder["state"] == UNKNOWN and sent_at is not None and utcnow() - sent_at < self.longest_send

    def _settle_from_backend(self, holder: dict[str, Any]) -> dict[str, Any]:
        """The holder, brought up to what the result backend knows of it (written to the history)."""
        from project.jobs.results import job_state  # the result backend: read only when a key is held

        try:
            known = job_state(holder["id"])
        except ServiceUnavailable as exc:
            why = "the result backend cannot say whether job %s finished, so it still holds its unique key: %s"
            logger.warning(why, holder["id"], exc.message)
            return holder
        state = known["state"]
        if state in FINISHED_STATES:
            with self._database():
                self.writer.settle(holder["id"], LIVE_STATES, finished_fields(known))
            return {**holder, "state": state}
        if holder["state"] == UNKNOWN and state in ("STARTED", "RETRY"):  # it was queued after all
            with self._database():
                self.writer.settle(holder["id"], (UNKNOWN,), {"state": state})
            return {**holder, "state": state}
        return holder

    def _database(self) -> AbstractContextManager[None]:
        return database_errors(self.database_url)


def sent_fields(sent: SentJob) -> dict[str, Any]:
    """The history row of a job the broker has (``write.record_sent``'s, as a row)."""
    return sent_row(sent.id, sent.name, list(sent.args), sent.kwargs, sent.queue, eta=sent.eta, expires=sent.expires)


def finished_fields(known: dict[str, Any]) -> dict[str, Any]:
    """The history columns of a job the result backend knows finished (``results.job_state``)."""
    finished_at = datetime.fromisoformat(known["finished_at"]) if known["finished_at"] else utcnow()
    error_type, _, error_message = (known["error"] or "").partition(": ")
    return {
        "state": known["state"],
        "finished_at": finished_at.astimezone(UTC),
        "result": bounded_json(known["result"]) if known["state"] == "SUCCESS" else None,
        "error_type": error_type or None,
        "error_message": error_message or None,
    }


def unknown_holder(key: str, task_id: str) -> Conflict:
    """The error for a key held by a job whose send ended with the broker's answer lost."""
    return Conflict(
        f"job {task_id} holds the unique key {key!r}, and whether the broker has it is unknown "
        "(its send failed with the broker's answer lost, or was cut short)",
        hint=f"if it is not queued, revoke {task_id} to free the key; a worker that runs it frees the key too",
    )


@contextmanager
def database_errors(url: str) -> Iterator[None]:
    """Database failures while taking a key become ServiceUnavailable: without the key nothing is sent."""
    try:
        yield
    except AppctlError:
        raise
    except Exception as exc:
        if _is_database_error(exc):
            raise unavailable("database", url, exc) from exc
        raise


def _is_database_error(exc: BaseException) -> bool:
    """An error of the database driver (sqlite3, psycopg) or of SQLAlchemy."""
    module = type(exc).__module__
    return module.split(".")[0] in ("sqlite3", "psycopg", "sqlalchemy") or module == "_sqlite3"
