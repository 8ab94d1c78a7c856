"""Celery wired into the Flask app, following Flask's "Background Tasks with Celery" pattern."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from celery import Celery, Task
from flask import Flask

from project.broker import register_transports
from project.celery_internals.backend_retries import bound_result_backend_retries
from project.jobs.history.signals import connect_signals, job_starting

HEARTBEAT_STEP = "project.jobs.heartbeat:HeartbeatStep"


def celery_settings(flask_config: Mapping[str, Any]) -> dict[str, Any]:
    """Celery's lowercase settings from the ``CELERY_``-prefixed keys of the Flask config.

    Done by hand because ``config_from_object(namespace="CELERY")`` mistakes keys such as
    ``CELERY_ACCEPT_CONTENT`` for Celery 3 names and logs deprecation warnings.
    """
    prefix = "CELERY_"
    return {key[len(prefix) :].lower(): value for key, value in flask_config.items() if key.startswith(prefix)}


def celery_init_app(app: Flask) -> Celery:
    """Create the Celery app from ``app.config`` (``CELERY_`` namespace); tasks run in the app context.

    Jobs are recorded in the job history as they are published and as they run, and workers
    write a heartbeat (project/jobs/history/signals.py, project/jobs/heartbeat.py).
    """

    class FlaskTask(Task):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with app.app_context():
                return self.run(*args, **kwargs)

        def before_start(self, task_id: str, args: Any, kwargs: Any) -> None:
            job_starting(self, task_id)  # raises Ignore for a job revoked in the history

    register_transports()
    connect_signals()
    bound_result_backend_retries(app.config["CELERY_RESULT_BACKEND"])
    celery_app = Celery(app.name, task_cls=FlaskTask, fixups=[])  # no Django fixup: it imports the worker
    celery_app.conf.update(celery_settings(app.config))
    celery_app.flask_app = app  # how Celery signal handlers find the Flask app of a task
    celery_app.steps["worker"].add(HEARTBEAT_STEP)  # by name: only a worker imports it
    app.extensions["celery"] = celery_app
    return celery_app
