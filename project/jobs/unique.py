"""Unique sends (``task send --unique``): a job is sent only while no unfinished job holds its key.

The database takes the key (project/jobs/unique_claims.py): the job's history row goes in first,
and only the process whose row went in publishes. Of processes racing with one key, one sends; the
others report its job. The row goes in as UNKNOWN (perhaps queued) and becomes PENDING once the
broker has the job:
- the broker refused it: the row is deleted, as every refused send leaves no history; the key is free;
- the broker's answer was lost, or the process died in between: the row stays UNKNOWN and keeps the
  key, since the job may be queued (a worker that runs it records its course, and its end frees the key).
  A unique send then refuses with Conflict naming it; revoking it frees the key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from datetime import datetime
from typing import Any

from celery import Task
from flask import current_app

from project.errors import FateUnknown, InvalidInput
from project.failures import publish_errors
from project.ids import new_ids
from project.interrupts import interrupts_held
from project.jobs.history.values import UNKNOWN, sent_row
from project.jobs.history.write import HISTORY
from project.jobs.publisher import JobToSend, SentJob
from project.jobs.registry import check_arguments, resolve_task
from project.jobs.send import SendOptions, publishing
from project.jobs.unique_claims import UniqueClaims

KEY_LENGTH = 255  # the length of jobs.unique_key
HASHED_KEY_PREFIX = "sha256:"  # a key --unique computes, so it never equals a key given by name


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
    """``key`` when it can be stored as a unique key: 1 to 255 printable characters, not only spaces."""
    if not key.isprintable() or len(key) > KEY_LENGTH or not key.strip():
        raise InvalidInput(
            f"unique key {key!r} is not valid: give 1 to {KEY_LENGTH} printable characters, not only spaces"
        )
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
    [task_id] = new_ids(1)
    job = JobToSend(tuple(args), dict(kwargs or {}), id=task_id)
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
