"""Publishing jobs to the broker."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import current_app

from project.failures import publish_errors
from project.jobs.registry import check_arguments, resolve_task


def send_job(
    name: str,
    args: list[Any] | None = None,
    kwargs: dict[str, Any] | None = None,
    *,
    countdown: float | None = None,
    eta: datetime | None = None,
    expires: float | datetime | None = None,
    queue: str | None = None,
) -> str:
    """Check ``name`` and the arguments, publish one job and return its id."""
    args, kwargs = list(args or []), dict(kwargs or {})
    task = resolve_task(name)
    check_arguments(task, args, kwargs)
    options: dict[str, Any] = {"countdown": countdown, "eta": eta, "expires": expires, "queue": queue}
    config = current_app.config
    with publish_errors(config["CELERY_BROKER_URL"], config["CELERY_RESULT_BACKEND"]):
        result = task.apply_async(args, kwargs, **{k: v for k, v in options.items() if v is not None})
    return str(result.id)
