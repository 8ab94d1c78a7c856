"""How hard the result backend is retried: once in a client, patiently in a worker.

A client (``task send``, ``result wait``) gives up on a lost result backend after one attempt
(Redis: one reconnect), so the command ends within its documented bound. A worker that gave up
as fast would lose the results of jobs it already ran, so at start-up it goes back to Celery's
own policies.
"""

from __future__ import annotations

from typing import Any

from celery import signals
from celery.backends.database import session

CELERY_REDIS_RETRY_POLICY = {"max_retries": 20, "interval_start": 0, "interval_step": 1, "interval_max": 1}
CELERY_PREPARE_MODELS_RETRIES = session.PREPARE_MODELS_MAX_RETRIES


def use_worker_retries(sender: Any, **_: Any) -> None:
    """``worker_init`` handler: Celery's default retries for storing results."""
    app = sender.app
    options = dict(app.conf.result_backend_transport_options or {}, retry_policy=CELERY_REDIS_RETRY_POLICY)
    app.conf.update(result_backend_transport_options=options, result_backend_max_retries=None)
    session.PREPARE_MODELS_MAX_RETRIES = CELERY_PREPARE_MODELS_RETRIES


def bound_result_backend_retries() -> None:
    """Clients: the database backend creates its tables once, not eleven times (Celery's constant).

    Workers: connect the handler that restores Celery's policies (once per process).
    """
    session.PREPARE_MODELS_MAX_RETRIES = 0
    signals.worker_init.connect(use_worker_retries, weak=False, dispatch_uid="appctl-worker-retries")
