"""How hard the result backend is retried: once in a client, patiently in a worker.

A client (``task send``, ``result wait``) gives up on a lost result backend after one attempt
(Redis: one reconnect), so the command ends within its documented bound. A worker that gave up
as fast would lose the results of jobs it already ran, so at start-up it goes back to Celery's
own policies. On Redis the worker's reads are retried as its writes are: Celery reads a job's
stored state before it writes a new one (project/celery_internals/redis_backend.py).

Overrides, checked against Celery 5.7.0: ``celery.backends.database.session.PREPARE_MODELS_MAX_RETRIES``
(a module global, set here for the process), ``result_backend_transport_options['retry_policy']`` and
``result_backend_max_retries`` (restored to Celery's defaults in a worker), and Celery's
``BACKEND_ALIASES`` for the Redis schemes.
"""

from __future__ import annotations

from typing import Any

from celery import signals

from project.urls import parse_url

CELERY_REDIS_RETRY_POLICY = {"max_retries": 20, "interval_start": 0, "interval_step": 1, "interval_max": 1}
CELERY_PREPARE_MODELS_RETRIES = 10  # celery.backends.database.session.PREPARE_MODELS_MAX_RETRIES
# A client and a worker creating the result tables at once race ("table … already exists");
# Celery retries after 10, 20, 40 ms (with jitter): a few retries cost well under a second.
# On a database server each retry of a silent server costs a connect timeout, so one retry there.
CLIENT_PREPARE_MODELS_RETRIES = {"sqlite": 3, "server": 1}
# Celery's Redis backends, by URL scheme, replaced by ones whose reads are retried too.
RETRYING_REDIS_BACKENDS = {
    "redis": "project.celery_internals.redis_backend:RetryingRedisBackend",
    "rediss": "project.celery_internals.redis_backend:RetryingRedisBackend",
    "sentinel": "project.celery_internals.redis_backend:RetryingSentinelBackend",
}


def use_worker_retries(sender: Any, **_: Any) -> None:
    """``worker_init`` handler: Celery's default retries for storing results."""
    app = sender.app
    options = dict(app.conf.result_backend_transport_options or {}, retry_policy=CELERY_REDIS_RETRY_POLICY)
    app.conf.update(result_backend_transport_options=options, result_backend_max_retries=None)
    if parse_url(app.conf.result_backend).wrapper == "db":
        from celery.backends.database import session

        session.PREPARE_MODELS_MAX_RETRIES = CELERY_PREPARE_MODELS_RETRIES


def bound_result_backend_retries(backend_url: str) -> None:
    """Clients: the database backend tries to create its tables 4 times (SQLite) or twice, not 11.

    Workers: connect the handler that restores Celery's policies (once per process). Celery's
    database backend is imported only when ``backend_url`` uses it: the import is costly.
    Redis URLs get the backend whose reads are retried (by name: imported when the backend is built).
    """
    backend = parse_url(backend_url)
    if backend.wrapper is None and backend.dialect in RETRYING_REDIS_BACKENDS:
        from celery.app.backends import BACKEND_ALIASES

        BACKEND_ALIASES.update(RETRYING_REDIS_BACKENDS)
    if backend.wrapper == "db":
        from celery.backends.database import session

        where = "sqlite" if backend.is_sqlite else "server"
        session.PREPARE_MODELS_MAX_RETRIES = CLIENT_PREPARE_MODELS_RETRIES[where]
    signals.worker_init.connect(use_worker_retries, weak=False, dispatch_uid="appctl-worker-retries")
