"""The worker benchmark's reference: a plain Celery app with appctl's Celery settings, no Flask app, no history.

``celery -A tests.bench.plain_celery worker`` consumes the same ``divide`` messages as ``appctl worker``,
from the queue ``APPCTL_QUEUE``, with every Celery setting appctl's config derives from the same
environment (JSON, acks late, prefetch 1, track started, extended results, the transport options).
"""

from __future__ import annotations

import os

from celery import Celery

from project.celery_utils import celery_settings
from project.config import config

settings = celery_settings(config["production"].from_environ(os.environ))
settings.pop("imports")  # appctl's task modules run inside its Flask app; this app has its own divide

app = Celery("plain", fixups=[])
app.conf.update(settings)


@app.task(name="project.users.tasks.divide")
def divide(x: float, y: float) -> float:
    """The chapter's divide with its delay at 0, as the benchmark runs appctl's."""
    return x / y
