"""Keeping the job history from Celery's own events: every job sent, and each job's course in the worker.

The signals are global to the process; each handler finds the factory-built app the event
belongs to (the task's Celery app, or the app publishing) and does nothing for other apps.
A send is recorded at once through the app's one writer (project/jobs/history/write.py). A
worker's rows (started, outcome) go through the same writer, batched by the process's buffer
(project/jobs/history/buffer.py), which the worker's shutdown signals write out.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from celery import Task, signals
from celery import current_app as current_celery_app
from celery.exceptions import Ignore
from flask import Flask, current_app, has_app_context

from project.celery_internals.broadcast import carries_broadcast
from project.celery_internals.messages import schedule_of
from project.jobs.history import buffer
from project.jobs.history.read import find_job
from project.jobs.history.values import DISCARDED, bounded_json, error_fields, progress_row, sent_row, utcnow
from project.jobs.history.write import current_writer, history_guard, record_sent_rows

_caller_records: ContextVar[bool] = ContextVar("appctl_history_caller_records", default=False)


def publishing_app() -> Flask | None:
    """The factory-built app a job is being published from: the current Flask app, else Celery's."""
    if has_app_context() and "celery" in current_app.extensions:
        app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
        return app
    return getattr(current_celery_app, "flask_app", None)


@contextmanager
def recorded_by_caller() -> Iterator[None]:
    """Within the block the publish signal records nothing: the caller records what the broker
    confirmed with ``write.record_sent`` (a producer batch fires the signal before it is flushed)."""
    token = _caller_records.set(True)
    try:
        yield
    finally:
        _caller_records.reset(token)


def on_published(sender: str, body: Any, headers: dict[str, Any], routing_key: str, **_: Any) -> None:
    """after_task_publish: record the job just sent (message protocol 2; protocol 1 is not recorded)."""
    if _caller_records.get() or not isinstance(body, tuple) or not headers.get("id"):
        return
    flask_app = publishing_app()
    if flask_app is None:
        return
    name, schedule = headers.get("task") or sender, schedule_of(headers)
    row = sent_row(headers["id"], name, body[0], body[1], routing_key or None, eta=schedule[0], expires=schedule[1])
    with flask_app.app_context():
        record_sent_rows([row])


SILENCED_BY_CALLER = (on_published,)  # the publish signals' receivers that do nothing within recorded_by_caller()


def _worker_app(task: Any) -> Flask | None:
    request = getattr(task, "request", None)
    if getattr(request, "is_eager", False):
        return None  # run in the caller's process: nothing was sent, nothing to record
    return getattr(getattr(task, "app", None), "flask_app", None)


def _record(task: Any, task_id: str | None, state: str, fields: dict[str, Any]) -> None:
    flask_app = _worker_app(task)
    if flask_app is None or not task_id:
        return
    request: Any = getattr(task, "request", None)
    retries = fields.pop("retries", None)
    if retries is None:
        retries = getattr(request, "retries", 0) or 0
    if state != "REVOKED" and getattr(request, "id", None) == task_id and request.hostname:
        fields["worker"] = request.hostname
    buffer.record_progress(flask_app, progress_row(task_id, state, retries, fields))


def job_starting(task: Task, task_id: str) -> None:
    """Record the start; raise Ignore (the job is skipped) when the history says it was revoked.

    Where revokes are broadcast, Celery itself skips a revoked job before it gets here: the revoke
    reaches running workers at once, and the heartbeat adds the history's revoked jobs to the
    same list (project/jobs/heartbeat.py). Elsewhere each job reads the history first.
    """
    flask_app = _worker_app(task)
    if flask_app is None:
        return
    request = task.request
    revoked = False
    if not carries_broadcast(task.app):
        with flask_app.app_context(), history_guard("start", [task_id]):
            revoked = current_writer().revoked(task_id)  # a read: the start itself is written with the batch
    if revoked:
        skipped = {"error_type": "TaskRevokedError", "error_message": "revoked", "revoked_reason": DISCARDED}
        skipped["worker"] = request.hostname
        buffer.record_progress(flask_app, progress_row(task_id, "REVOKED", request.retries or 0, skipped))
        task.backend.mark_as_revoked(task_id, "revoked in the job history", request=request)
        raise Ignore()
    fields: dict[str, Any] = {
        "name": task.name,
        "args": bounded_json(list(request.args or [])),
        "kwargs": bounded_json(dict(request.kwargs or {})),
        "queue": (request.delivery_info or {}).get("routing_key"),
        "worker": request.hostname,
    }
    buffer.record_progress(flask_app, progress_row(task_id, "STARTED", request.retries or 0, fields))


def on_success(sender: Any, result: Any, **_: Any) -> None:
    """task_success: store the (size-bounded) result."""
    fields = {"result": bounded_json(result), "error_type": None, "error_message": None}
    _record(sender, sender.request.id, "SUCCESS", fields)


def on_failure(sender: Any, task_id: str, exception: BaseException | None = None, **_: Any) -> None:
    """task_failure: store the error's type and message."""
    _record(sender, task_id, "FAILURE", {"result": None, **error_fields(exception)})


def on_retry(sender: Any, request: Any, reason: Any = None, **_: Any) -> None:
    """task_retry: the job will run again; store why and the retry count."""
    error = reason if isinstance(reason, BaseException) else None
    fields = {"retries": (request.retries or 0) + 1, **error_fields(error)}
    _record(sender, request.id, "RETRY", fields)


def on_revoked(sender: Any, request: Any, terminated: bool = False, expired: bool = False, **_: Any) -> None:
    """task_revoked: the worker discarded or terminated the job (recorded only if the history holds it:
    a row made for a job pruned meanwhile would come back with no name, arguments or send time)."""
    task_id, flask_app = getattr(request, "id", None), _worker_app(sender)
    if not terminated and task_id and flask_app is not None:
        with flask_app.app_context(), history_guard("revoke", [task_id]):
            if find_job(task_id) is None:
                return
    why = "terminated" if terminated else "expired" if expired else "revoked"
    retries = (getattr(request, "request_dict", None) or {}).get("retries") or 0
    fields = {"revoked_at": utcnow(), "error_type": "TaskRevokedError", "error_message": why, "retries": retries}
    fields["revoked_reason"] = DISCARDED  # its message is gone: a prune may delete the row
    if getattr(request, "hostname", None):
        fields["worker"] = request.hostname
    _record(sender, getattr(request, "id", None), "REVOKED", fields)


def on_worker_process_init(**_: Any) -> None:
    """worker_process_init: a forked pool process must not share its parent's database connections."""
    flask_app = getattr(current_celery_app, "flask_app", None)
    if flask_app is not None and "sqlalchemy" in flask_app.extensions:
        from project.extensions import db

        with flask_app.app_context():
            db.engine.dispose(close=False)


def on_worker_process_shutdown(**_: Any) -> None:
    """worker_process_shutdown: a pool process is exiting (warm shutdown, recycled): write what it holds."""
    buffer.flush_all()


def on_worker_shutdown(sender: Any = None, **_: Any) -> None:
    """worker_shutdown: the worker stops (solo and thread pools keep their rows in this process)."""
    flask_app = getattr(getattr(sender, "app", None), "flask_app", None)
    if flask_app is not None:
        buffer.flush_all(flask_app)


def connect_signals() -> None:
    """Connect the handlers once per process (``dispatch_uid`` makes repeated calls harmless)."""
    signals.after_task_publish.connect(on_published, weak=False, dispatch_uid="appctl.history.published")
    signals.task_success.connect(on_success, weak=False, dispatch_uid="appctl.history.success")
    signals.task_failure.connect(on_failure, weak=False, dispatch_uid="appctl.history.failure")
    signals.task_retry.connect(on_retry, weak=False, dispatch_uid="appctl.history.retry")
    signals.task_revoked.connect(on_revoked, weak=False, dispatch_uid="appctl.history.revoked")
    signals.worker_process_init.connect(on_worker_process_init, weak=False, dispatch_uid="appctl.history.fork")
    signals.worker_process_shutdown.connect(
        on_worker_process_shutdown, weak=False, dispatch_uid="appctl.history.process_shutdown"
    )
    signals.worker_shutdown.connect(on_worker_shutdown, weak=False, dispatch_uid="appctl.history.shutdown")
