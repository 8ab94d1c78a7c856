"""Bounds on every wait: connection timeouts, retry limits and redelivery, read from the environment.

The defaults keep each promise in docs/operations.md ("Failure behaviour"): a broker or result backend
that accepts connections and never answers costs one socket timeout per attempt, a refused one
a few hundred milliseconds, and a job whose worker died is redelivered after the visibility timeout.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from project.errors import ConfigError
from project.urls import parse_url

DEFAULT_CONNECT_TIMEOUT = 3.0  # seconds to open a connection to a service
DEFAULT_SOCKET_TIMEOUT = 4.0  # seconds a connected service may stay silent
DEFAULT_PUBLISH_RETRIES = 2  # further attempts to publish a job after a connection error
DEFAULT_VISIBILITY_TIMEOUT = 3600.0  # seconds; longer than any job this app runs
DEFAULT_RESTORE_INTERVAL = 10.0  # seconds between a worker's sweeps for jobs of dead workers
DEFAULT_SQLITE_BUSY_TIMEOUT = 30.0  # seconds a SQLite writer waits for another one
# Seconds a worker process may hold its job-history writes (started, outcome) before writing them,
# as one statement per batch; it writes them at once on a warm shutdown (docs/operations.md).
DEFAULT_HISTORY_FLUSH_INTERVAL = 1.0
MAX_SECONDS = 100 * 365.25 * 86400  # 100 years, as on the command line (cli/params.py): sockets and clocks hold it
MAX_COUNT = 2**31 - 1  # what a C int holds
MAX_NESTING = 100  # levels of lists and objects in a task argument; far deeper than JSON needs


def seconds_setting(environ: Mapping[str, str], name: str, default: float, minimum: float = 0.0) -> float:
    """Read a number of seconds from ``minimum`` to MAX_SECONDS (100 years) from ``environ[name]``, or ``default``."""
    raw = environ.get(name)
    if not raw:
        return default
    try:
        value = float(raw) if "_" not in raw else -1.0  # float() reads "1_0" as 10: a typo, not a number
    except ValueError:
        value = -1.0
    if not minimum <= value <= MAX_SECONDS:
        raise ConfigError(
            f"{name} must be a number of seconds from {minimum:g} to {MAX_SECONDS:.0f} (100 years), not {raw!r}"
        )
    return value


SHORTEST_WAIT = 0.1  # seconds: the least a connect or read timeout, or a sweep or heartbeat interval, may be


def count_setting(environ: Mapping[str, str], name: str, default: int, maximum: int = MAX_COUNT) -> int:
    """Read a whole number from 0 to ``maximum`` from ``environ[name]``, or ``default``."""
    raw = environ.get(name)
    if not raw:
        return default
    if not (raw.strip().isascii() and raw.strip().isdigit()) or len(raw.strip()) > 10 or int(raw) > maximum:
        raise ConfigError(f"{name} must be a whole number from 0 to {maximum}, not {raw!r}")
    return int(raw)


@dataclass(frozen=True)
class Bounds:
    """The timeouts and limits every connection and wait uses."""

    connect_timeout: float
    socket_timeout: float
    publish_retries: int
    visibility_timeout: float
    restore_interval: float
    sqlite_busy_timeout: float
    history_flush_interval: float = DEFAULT_HISTORY_FLUSH_INTERVAL

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Bounds:
        """The bounds set by ``APPCTL_*`` and ``CELERY_VISIBILITY_TIMEOUT``, else the defaults."""
        return cls(
            connect_timeout=seconds_setting(environ, "APPCTL_CONNECT_TIMEOUT", DEFAULT_CONNECT_TIMEOUT, SHORTEST_WAIT),
            socket_timeout=seconds_setting(environ, "APPCTL_SOCKET_TIMEOUT", DEFAULT_SOCKET_TIMEOUT, SHORTEST_WAIT),
            publish_retries=count_setting(environ, "APPCTL_PUBLISH_RETRIES", DEFAULT_PUBLISH_RETRIES),
            visibility_timeout=seconds_setting(environ, "CELERY_VISIBILITY_TIMEOUT", DEFAULT_VISIBILITY_TIMEOUT),
            restore_interval=seconds_setting(
                environ, "APPCTL_RESTORE_INTERVAL", DEFAULT_RESTORE_INTERVAL, SHORTEST_WAIT
            ),
            sqlite_busy_timeout=seconds_setting(environ, "APPCTL_SQLITE_BUSY_TIMEOUT", DEFAULT_SQLITE_BUSY_TIMEOUT),
            history_flush_interval=seconds_setting(
                environ, "APPCTL_HISTORY_FLUSH_INTERVAL", DEFAULT_HISTORY_FLUSH_INTERVAL
            ),
        )


def longest_send(bounds: Bounds) -> float:
    """Seconds one send can take at most: every publish attempt connecting and waiting for the broker's
    answer (Celery's retry policy sleeps at most 1 s between attempts), then a SQLite lock wait to record it.

    A unique send whose key another send is still taking waits this long for it (project/jobs/unique.py).
    """
    attempt = bounds.connect_timeout + bounds.socket_timeout
    return (bounds.publish_retries + 1) * attempt + bounds.publish_retries + bounds.sqlite_busy_timeout


def engine_options(url: str, bounds: Bounds) -> dict[str, Any]:
    """SQLAlchemy engine options that bound connecting (PostgreSQL) and lock waits (SQLite)."""
    dialect = parse_url(url).dialect
    if dialect == "sqlite":
        return {"connect_args": {"timeout": bounds.sqlite_busy_timeout}}
    if dialect in ("postgresql", "postgres"):
        return {"connect_args": {"connect_timeout": max(1, round(bounds.connect_timeout))}}
    return {}


def restore_mutex_expiry(bounds: Bounds) -> int:
    """Seconds kombu's Redis restore lock lives at most: a few sweeps, never kombu's 300 s default."""
    return int(min(300, max(30, 3 * bounds.restore_interval)))


def broker_transport_options(broker_url: str, bounds: Bounds) -> dict[str, Any]:
    """Transport options: bounded connects and reads, prompt redelivery of a dead worker's jobs."""
    redelivery = {"visibility_timeout": bounds.visibility_timeout, "max_retries": bounds.publish_retries}
    broker = parse_url(broker_url)
    if broker.wrapper in ("sqla", "sqlalchemy"):
        sweep = {"polling_interval": 0.05, "unacked_restore_interval": bounds.restore_interval}
        return {**redelivery, **sweep, **engine_options(broker.inner, bounds)}
    if broker.is_redis:
        sockets = {"socket_connect_timeout": bounds.connect_timeout, "socket_timeout": bounds.socket_timeout}
        sweep = {
            "unacked_restore_interval": bounds.restore_interval,
            "unacked_restore_throttle": 1,
            # kombu's sweep lock, held 300 s when the broker paused while a worker took it (its reply
            # lost): no worker could sweep, so a dead worker's jobs came back minutes late.
            "unacked_mutex_expire": restore_mutex_expiry(bounds),
        }
        return {**redelivery, **sockets, **sweep}
    return redelivery


def celery_bounds(broker_url: str, backend_url: str, bounds: Bounds) -> dict[str, Any]:
    """The ``CELERY_*`` settings that bound publishing and every result backend call."""
    settings: dict[str, Any] = {
        "CELERY_BROKER_URL": broker_url,
        "CELERY_RESULT_BACKEND": backend_url,
        "CELERY_BROKER_TRANSPORT_OPTIONS": broker_transport_options(broker_url, bounds),
        "CELERY_BROKER_CONNECTION_TIMEOUT": bounds.connect_timeout,
        "CELERY_TASK_PUBLISH_RETRY_POLICY": {
            "max_retries": bounds.publish_retries,
            "interval_start": 0,
            "interval_step": 0.5,
            "interval_max": 1,
        },
        "CELERY_REDIS_SOCKET_CONNECT_TIMEOUT": bounds.connect_timeout,
        "CELERY_REDIS_SOCKET_TIMEOUT": bounds.socket_timeout,
        # A client that lost the result backend tries once more (Redis: one reconnect), then reports
        # it (exit 69); workers go back to Celery's patient defaults (project/celery_internals/backend_retries.py).
        "CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS": {"retry_policy": {"max_retries": 0}},
        "CELERY_RESULT_BACKEND_MAX_RETRIES": 0,
    }
    backend = parse_url(backend_url)
    if backend.wrapper == "db":
        settings["CELERY_DATABASE_ENGINE_OPTIONS"] = engine_options(backend.inner, bounds)
    return settings
