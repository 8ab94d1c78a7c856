"""One health check of the whole system, bounded in time even when every service is down.

Each check runs in a daemon thread; whatever has not answered by the deadline is reported as
such, so a service that hangs (no socket timeout) cannot hold the command up.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any

from celery import Celery
from flask import Flask, current_app
from kombu import Connection

from project.errors import UPGRADE_DATABASE, AppctlError
from project.failures import is_connection_error, reason, unavailable
from project.jobs.heartbeat import broker_identity
from project.jobs.history.read import active_workers
from project.jobs.registry import current_celery
from project.jobs.revoke import supports_broadcast
from project.migrations import migration_status
from project.urls import mask_password, mask_secrets

DEADLINE = 3.0  # seconds for all checks together: with start-up, `appctl status` ends in ~5 s
PING_TIMEOUT = 1.0
PING_GRACE = 0.5  # seconds past the ping's own timeout before a silent broker's ping is given up
Check = Callable[[], dict[str, Any]]


def check_database() -> dict[str, Any]:
    """Reachable and at the head revision."""
    url = mask_password(current_app.config["DATABASE_URL"])
    state = migration_status()
    data = {"url": url, "revision": state["current"], "head": state["head"]}
    if state["at_head"]:
        return {"ok": True, "detail": f"{url} at head {state['head']}", "data": data}
    pending = len(state["pending"])
    detail = f"{url} at {state['current'] or 'base'}, {pending} migration(s) pending"
    return {"ok": False, "detail": detail, "data": data, "remedy": UPGRADE_DATABASE}


def queue_depth(connection: Connection, queue: str) -> int:
    """Messages waiting in ``queue`` (0 when the broker has not declared it yet)."""
    try:
        return int(connection.default_channel.queue_declare(queue=queue, passive=True).message_count)
    except connection.channel_errors:
        return 0


def check_broker() -> dict[str, Any]:
    """Reachable; how many jobs wait in the app's queue."""
    celery = current_celery()
    queue = celery.conf.task_default_queue
    url = mask_password(current_app.config["CELERY_BROKER_URL"])
    with celery.connection_for_write() as connection:
        connection.connect()
        depth = queue_depth(connection, queue)
    return {
        "ok": True,
        "detail": f"{url}, queue {queue}: {depth} waiting",
        "data": {"url": url, "queue": queue, "depth": depth},
    }


def check_backend() -> dict[str, Any]:
    """Reachable: a ping (Redis) or the read of an unknown id (database backend)."""
    backend = current_celery().backend
    url = mask_password(current_app.config["CELERY_RESULT_BACKEND"])
    ping = getattr(getattr(backend, "client", None), "ping", None)
    if callable(ping):
        ping()
    else:
        backend.get_task_meta("appctl-health-probe")
    return {"ok": True, "detail": url, "data": {"url": url}}


def check_workers() -> dict[str, Any]:
    """Workers alive (heartbeat, or a ping where the broker broadcasts) and consuming the app's queue."""
    celery = current_celery()
    queue, broker = celery.conf.task_default_queue, broker_identity(celery)
    workers = {worker["name"]: worker for worker in active_workers()}
    for name, queues in _pinged(celery).items():
        workers.setdefault(name, {"name": name, "queues": queues, "active": None, "last_seen": None})
        workers[name].update(ping=True, broker=broker)  # it answered on this broker
    here = {name: w for name, w in workers.items() if w.get("broker") in (None, broker)}
    serving = sorted(name for name, w in here.items() if w["queues"] is None or queue in w["queues"])
    if serving:
        detail = ", ".join(f"{name} ({_active(workers[name])} active)" for name in serving)
    else:
        elsewhere = [f"{len(here)} on other queues"] if here else []
        elsewhere += [f"{len(workers) - len(here)} on another broker"] if len(here) < len(workers) else []
        detail = f"no worker consumes queue {queue}" + (f" ({', '.join(elsewhere)})" if elsewhere else "")
    return {"ok": bool(serving), "detail": detail, "data": {"queue": queue, "workers": list(workers.values())}}


def _pinged(celery: Celery) -> dict[str, list[str]]:
    """The workers answering Celery's broadcast, with the queues each consumes (``inspect
    active_queues``), where the broker broadcasts (else none).

    Every worker on the broker answers, those of other apps too: only its queues say whether it
    serves this app's. A broker failure here is left to the broker check; the heartbeats still
    count. A broker that does not answer can hold the call past its timeout: PING_TIMEOUT plus a grace.
    """
    if not supports_broadcast(celery):
        return {}
    found: dict[str, list[str]] = {}

    def ask() -> None:
        with suppress(Exception):
            replies = celery.control.inspect(timeout=PING_TIMEOUT).active_queues() or {}
            found.update({name: [queue.get("name") for queue in queues or []] for name, queues in replies.items()})

    asking = threading.Thread(target=ask, daemon=True)
    asking.start()
    asking.join(PING_TIMEOUT + PING_GRACE)
    return {} if asking.is_alive() else found


def _active(worker: dict[str, Any]) -> str:
    return "?" if worker["active"] is None else str(len(worker["active"]))


_SERVICES = {
    "database": "DATABASE_URL",
    "broker": "CELERY_BROKER_URL",
    "result backend": "CELERY_RESULT_BACKEND",
}


def _failure(name: str, exc: BaseException) -> dict[str, Any]:
    if name in _SERVICES and not isinstance(exc, AppctlError) and (is_connection_error(exc) or name == "database"):
        exc = unavailable(name, current_app.config[_SERVICES[name]], exc)
    if isinstance(exc, AppctlError):  # says what is wrong (a broken migrations folder, say)
        detail = f"{exc.message} ({exc.hint})" if exc.hint else exc.message
        return {"ok": False, "detail": detail, "data": None, "remedy": exc.remedy}
    if name == "workers":
        return {"ok": False, "detail": f"cannot read the worker heartbeats: {reason(exc)}", "data": None}
    return {"ok": False, "detail": f"{type(exc).__name__}: {reason(exc)}", "data": None}


CHECKS: dict[str, Check] = {
    "database": check_database,
    "broker": check_broker,
    "result backend": check_backend,
    "workers": check_workers,
}


def system_status(deadline: float = DEADLINE) -> list[dict[str, Any]]:
    """Run every check at once; each is ``{check, ok, detail, data}``, failing if not done by ``deadline``.

    A failed check may also carry ``remedy`` (one of project.errors.REMEDIES): what would mend it.
    """
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    results: dict[str, dict[str, Any]] = {}

    def run(name: str, check: Check) -> None:
        with app.app_context():
            try:
                results[name] = check()
            except Exception as exc:
                results[name] = _failure(name, exc)

    threads = [threading.Thread(target=run, args=item, daemon=True) for item in CHECKS.items()]
    for thread in threads:
        thread.start()
    end = time.monotonic() + deadline
    for thread in threads:
        thread.join(max(0.0, end - time.monotonic()))
    late = {"ok": False, "detail": f"no answer within {deadline:g}s", "data": None}
    urls = [app.config[setting] for setting in _SERVICES.values()]
    return [_masked({"check": name, **results.get(name, late)}, urls) for name in CHECKS]


def _masked(value: Any, urls: list[str]) -> Any:
    """``value`` with every string in it cleared of the passwords of ``urls`` (drivers echo pieces of them)."""
    if isinstance(value, str):
        return mask_secrets(value, urls)
    if isinstance(value, dict):
        return {key: _masked(item, urls) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(item, urls) for item in value]
    return value
