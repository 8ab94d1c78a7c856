"""Configuration classes; URLs and paths are read from the environment when the app is built."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from project.bounds import (
    SHORTEST_WAIT,
    Bounds,
    celery_bounds,
    count_setting,
    engine_options,
    longest_send,
    seconds_setting,
)
from project.errors import ConfigError, InvalidInput
from project.jobs.names import check_queue_name
from project.url_checks import check_service_urls
from project.urls import sqlalchemy_database_url
from project.users.passwords import DEFAULT_MIN_LENGTH
from project.users.passwords import MAX_LENGTH as MAX_PASSWORD_LENGTH

DEFAULT_HEARTBEAT_INTERVAL = 2.0  # seconds between a worker's heartbeat rows
DEFAULT_BEAT_LEASE = 10.0  # seconds a beat holds the lease unless it renews it (docs/operations.md)
SHORTEST_LEASE = 1.0  # seconds: the shortest APPCTL_BEAT_LEASE (docs/configuration.md)
DEFAULT_MIGRATION_LOCK_TIMEOUT = 600.0  # seconds `db upgrade`/`downgrade` waits for another one to end
SERVICE_URL_SETTINGS = ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND")


def service_urls(environ: Mapping[str, str]) -> tuple[str, ...]:
    """The service URLs set in ``environ``: the passwords in them are never printed."""
    return tuple(environ[name] for name in SERVICE_URL_SETTINGS if environ.get(name))


def data_directory(environ: Mapping[str, str]) -> Path:
    """Where the embedded SQLite files live: ``APPCTL_DATA_DIR``, else the XDG data home.

    Never relative to the current directory (cron runs elsewhere): a relative ``APPCTL_DATA_DIR``
    is a ConfigError, and a relative ``XDG_DATA_HOME`` is ignored, as the XDG spec says.
    """
    if environ.get("APPCTL_DATA_DIR"):
        directory = Path(environ["APPCTL_DATA_DIR"]).expanduser()
        if not directory.is_absolute():
            raise ConfigError(
                f"APPCTL_DATA_DIR {environ['APPCTL_DATA_DIR']!r} must be an absolute path",
                hint="a relative one would change with the current directory; for example $HOME/appctl-data",
            )
        return directory.resolve()
    xdg = Path(environ.get("XDG_DATA_HOME") or "").expanduser()
    base = xdg if xdg.is_absolute() else Path.home() / ".local" / "share"
    return base.resolve() / "appctl"


def default_queue(environ: Mapping[str, str]) -> str:
    """``APPCTL_QUEUE`` checked as ``--queue`` is (a ConfigError here), else ``celery``."""
    queue = environ.get("APPCTL_QUEUE")
    if not queue:  # set but empty counts as unset, as for every other setting
        return "celery"
    try:
        check_queue_name(queue)
    except InvalidInput as exc:
        raise ConfigError(f"APPCTL_QUEUE is not valid: {exc.message}") from None
    return queue


def task_modules(environ: Mapping[str, str]) -> tuple[str, ...]:
    """The modules named in ``APPCTL_TASK_MODULES`` (comma-separated), each checked to exist, not imported."""
    names = tuple(name.strip() for name in (environ.get("APPCTL_TASK_MODULES") or "").split(",") if name.strip())
    for name in names:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a missing parent package, or a name like "a..b"
            found = False
        if not found:
            raise ConfigError(
                f"APPCTL_TASK_MODULES names {name!r}, which cannot be imported",
                hint="give module names, comma-separated, importable from sys.path (PYTHONPATH)",
            )
    return names


class BaseConfig:
    """Settings shared by every environment."""

    DEBUG = False
    TESTING = False
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    DIVIDE_DELAY = 5.0

    CELERY_IMPORTS = ("project.users.tasks",)
    CELERY_TASK_SERIALIZER = "json"
    CELERY_RESULT_SERIALIZER = "json"
    CELERY_ACCEPT_CONTENT = ["json"]
    CELERY_TASK_ACKS_LATE = True
    CELERY_TASK_REJECT_ON_WORKER_LOST = True
    CELERY_WORKER_PREFETCH_MULTIPLIER = 1
    CELERY_TASK_TRACK_STARTED = True
    CELERY_RESULT_EXTENDED = True
    CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
    CELERY_BEAT_SCHEDULER = "project.schedules.beat:DatabaseScheduler"  # the schedules in the database

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> dict[str, Any]:
        """Return this class's settings completed with URLs and paths from ``environ``."""
        settings = {key: getattr(cls, key) for key in dir(cls) if key.isupper()}
        data_dir = data_directory(environ)
        database_url = environ.get("DATABASE_URL") or f"sqlite:///{data_dir / 'app.sqlite'}"
        broker_url = environ.get("CELERY_BROKER_URL") or f"sqla+sqlite:///{data_dir / 'broker.sqlite'}"
        backend_url = environ.get("CELERY_RESULT_BACKEND") or f"db+sqlite:///{data_dir / 'results.sqlite'}"
        check_service_urls(database_url, broker_url, backend_url)
        bounds = Bounds.from_environ(environ)
        settings.update(
            APPCTL_DATA_DIR=str(data_dir),
            DATABASE_URL=database_url,  # as the user wrote it: what messages show
            SQLALCHEMY_DATABASE_URI=sqlalchemy_database_url(database_url),
            # hide_parameters: a failed statement's message (and a --debug traceback) never shows its
            # values, which may be a password hash
            SQLALCHEMY_ENGINE_OPTIONS={**engine_options(database_url, bounds), "hide_parameters": True},
            APPCTL_HISTORY_FLUSH_INTERVAL=bounds.history_flush_interval,
            CELERY_TASK_DEFAULT_QUEUE=default_queue(environ),
            CELERY_IMPORTS=(*cls.CELERY_IMPORTS, *task_modules(environ)),
            **celery_bounds(broker_url, backend_url, bounds),
        )
        settings["LONGEST_SEND"] = longest_send(bounds)
        settings["DIVIDE_DELAY"] = seconds_setting(environ, "APPCTL_DIVIDE_DELAY", cls.DIVIDE_DELAY)
        # Read by the waiting commands' --timeout (cli/params.py); checked here too, so that every
        # command refuses a malformed one, not only those that wait.
        seconds_setting(environ, "APPCTL_WAIT_TIMEOUT", 0)
        settings["APPCTL_HEARTBEAT_INTERVAL"] = seconds_setting(
            environ, "APPCTL_HEARTBEAT_INTERVAL", DEFAULT_HEARTBEAT_INTERVAL, SHORTEST_WAIT
        )
        settings["APPCTL_BEAT_LEASE"] = seconds_setting(
            environ, "APPCTL_BEAT_LEASE", DEFAULT_BEAT_LEASE, SHORTEST_LEASE
        )
        # At most the longest password accepted: a larger minimum would refuse every password.
        settings["MIN_PASSWORD_LENGTH"] = count_setting(
            environ, "APPCTL_MIN_PASSWORD_LENGTH", DEFAULT_MIN_LENGTH, maximum=MAX_PASSWORD_LENGTH
        )
        settings["APPCTL_MIGRATION_LOCK_TIMEOUT"] = seconds_setting(
            environ, "APPCTL_MIGRATION_LOCK_TIMEOUT", DEFAULT_MIGRATION_LOCK_TIMEOUT
        )
        return settings


class DevelopmentConfig(BaseConfig):
    """Local development: the default."""

    DEBUG = True


class TestingConfig(BaseConfig):
    """The test suite: no artificial job delay."""

    TESTING = True
    DIVIDE_DELAY = 0.0


class ProductionConfig(BaseConfig):
    """Production deployments."""


config: dict[str, type[BaseConfig]] = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def config_name_from_environ() -> str:
    """The config name ``FLASK_CONFIG`` selects, ``development`` by default."""
    return os.environ.get("FLASK_CONFIG") or "development"
