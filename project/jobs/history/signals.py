"""Keeping the job history from Celery's own events: every job sent, and each job's course in the worker.

The signals are global to the process; each handler finds the factory-built app the event
belongs to (the task's Celery app, or the app publishing) and does nothing for other apps.
A send is recorded through the app's one writer (project/jobs/history/write.py), which needs no
SQLAlchemy; the worker's handlers write through the ORM (project/jobs/history/write_orm.py).
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

from project.celery_internals.messages import schedule_of
from project.jobs.history.values import bounded_json, error_fields, sent_row, utcnow
from project.jobs.history.write import history_guard, record_sent_rows

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


def _worker_app(task: Any) -> Flask | None:
    request = getattr(task, "request", None)
    if getattr(request, "is_eager", False):
        return None  # run in the caller's process: nothing was sent, nothing to record
    return getattr(getattr(task, "app", None), "flask_app", None)


def _record(task: Any, task_id: str | None, state: str, fields: dict[str, Any]) -> None:
    flask_app = _worker_app(task)
    if flask_app is None or not task_id:
        return
    from project.jobs.history import write_orm

    with flask_app.app_context(), history_guard(state, [task_id]):
        write_orm.record_outcome(task_id, state, fields)


def job_starting(task: Task, task_id: str) -> None:
    """Record the start; raise Ignore (the job is skipped) when the history says it was revoked."""
    flask_app = _worker_app(task)
    if flask_app is None:
        return
    request = task.request
    fields = {
        "name": task.name,
        "args": bounded_json(list(request.args or [])),
        "kwargs": bounded_json(dict(request.kwargs or {})),
        "queue": (request.delivery_info or {}).get("routing_key"),
        "worker": request.hostname,
        "retries": request.retries or 0,
    }
    may_run = True
    from project.jobs.history import write_orm

    with flask_app.app_context(), history_guard("start", [task_id]):
        may_run = write_orm.record_started(task_id, fields)
    if not may_run:
        task.backend.mark_as_revoked(task_id, "revoked in the job history", request=request)
        raise Ignore()


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
    """task_revoked: the worker discarded or terminated the job."""
    why = "terminated" if terminated else "expired" if expired else "revoked"
    fields = {"revoked_at": utcnow(), "error_type": "TaskRevokedError", "error_message": why}
    _record(sender, getattr(request, "id", None), "REVOKED", fields)


def on_worker_process_init(**_: Any) -> None:
    """worker_process_init: a forked pool process must not share its parent's database connections."""
    flask_app = getattr(current_celery_app, "flask_app", None)
    if flask_app is not None and "sqlalchemy" in flask_app.extensions:
        from project.extensions import db

        with flask_app.app_context():
            db.engine.dispose(close=False)


def connect_signals() -> None:
    """Connect the handlers once per process (``dispatch_uid`` makes repeated calls harmless)."""
    signals.after_task_publish.connect(on_published, weak=False, dispatch_uid="appctl.history.published")
    signals.task_success.connect(on_success, weak=False, dispatch_uid="appctl.history.success")
    signals.task_failure.connect(on_failure, weak=False, dispatch_uid="appctl.history.failure")
    signals.task_retry.connect(on_retry, weak=False, dispatch_uid="appctl.history.retry")
    signals.task_revoked.connect(on_revoked, weak=False, dispatch_uid="appctl.history.revoked")
    signals.worker_process_init.connect(on_worker_process_init, weak=False, dispatch_uid="appctl.history.fork")
