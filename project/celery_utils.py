"""Celery wired into the Flask app, following Flask's "Background Tasks with Celery" pattern."""

from __future__ import annotations

from typing import Any

from celery import Celery, Task
from flask import Flask

from project.jobs.embedded_broker import register_embedded_transport


def celery_init_app(app: Flask) -> Celery:
    """Create the Celery app from ``app.config`` (``CELERY_`` namespace); tasks run in the app context."""

    class FlaskTask(Task):  # type: ignore[misc]
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with app.app_context():
                return self.run(*args, **kwargs)

    register_embedded_transport()
    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(app.config, namespace="CELERY")
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app
