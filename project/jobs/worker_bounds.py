"""Workers wait longer for the result backend than clients do.

A client (``task send``, ``result wait``) gives up on a lost result backend after one reconnect,
so the command ends within its documented bound. A worker that gave up as fast would lose the
results of jobs it already ran, so at start-up it goes back to Celery's own, patient, policy.
"""

from __future__ import annotations

from typing import Any

from celery import signals

CELERY_RESULT_RETRY_POLICY = {"max_retries": 20, "interval_start": 0, "interval_step": 1, "interval_max": 1}


def use_worker_retry_policy(sender: Any, **_: Any) -> None:
    """``worker_init`` handler: restore Celery's default retry policy for storing results."""
    app = sender.app
    options = dict(app.conf.result_backend_transport_options or {}, retry_policy=CELERY_RESULT_RETRY_POLICY)
    app.conf.update(result_backend_transport_options=options, result_backend_max_retries=None)


def connect_worker_bounds() -> None:
    """Connect the handler once per process."""
    signals.worker_init.connect(use_worker_retry_policy, weak=False, dispatch_uid="appctl-worker-bounds")
