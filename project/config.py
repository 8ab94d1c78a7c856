"""Configuration classes; URLs and paths are read from the environment when the app is built."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from project.errors import ConfigError
from project.urls import sqlalchemy_database_url

DEFAULT_VISIBILITY_TIMEOUT = 3600  # seconds; longer than any job this app runs
DEFAULT_HEARTBEAT_INTERVAL = 2.0  # seconds between a worker's heartbeat rows


def data_directory(environ: Mapping[str, str]) -> Path:
    """Where the embedded SQLite files live: ``APPCTL_DATA_DIR``, else the XDG data home."""
    if environ.get("APPCTL_DATA_DIR"):
        return Path(environ["APPCTL_DATA_DIR"]).expanduser().resolve()
    xdg = environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg).expanduser().resolve() / "appctl"


def seconds_setting(environ: Mapping[str, str], name: str, default: float) -> float:
    """Read a non-negative number of seconds from ``environ[name]``, or ``default``."""
    raw = environ.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise ConfigError(f"{name} must be a number of seconds, not {raw!r}")
    return value


def broker_transport_options(broker_url: str, environ: Mapping[str, str]) -> dict[str, Any]:
    """Transport options for the broker: fast polling on SQLite, bounded sockets on Redis."""
    visibility = seconds_setting(environ, "CELERY_VISIBILITY_TIMEOUT", DEFAULT_VISIBILITY_TIMEOUT)
    if broker_url.startswith("sqla+"):
        return {"polling_interval": 0.05, "connect_args": {"timeout": 30}}
    options: dict[str, Any] = {"visibility_timeout": visibility, "max_retries": 2}
    if broker_url.startswith(("redis://", "rediss://")):
        options.update(socket_connect_timeout=3, socket_timeout=5)
    return options


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
    CELERY_BROKER_CONNECTION_TIMEOUT = 4
    CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
    CELERY_TASK_PUBLISH_RETRY_POLICY = {
        "max_retries": 2,
        "interval_start": 0,
        "interval_step": 0.5,
        "interval_max": 1,
    }
    CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = 3
    CELERY_REDIS_SOCKET_TIMEOUT = 5

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> dict[str, Any]:
        """Return this class's settings completed with URLs and paths from ``environ``."""
        settings = {key: getattr(cls, key) for key in dir(cls) if key.isupper()}
        data_dir = data_directory(environ)
        database_url = environ.get("DATABASE_URL") or f"sqlite:///{data_dir / 'app.sqlite'}"
        broker_url = environ.get("CELERY_BROKER_URL") or f"sqla+sqlite:///{data_dir / 'broker.sqlite'}"
        backend_url = environ.get("CELERY_RESULT_BACKEND") or f"db+sqlite:///{data_dir / 'results.sqlite'}"
        settings.update(
            APPCTL_DATA_DIR=str(data_dir),
            SQLALCHEMY_DATABASE_URI=sqlalchemy_database_url(database_url),
            CELERY_BROKER_URL=broker_url,
            CELERY_RESULT_BACKEND=backend_url,
            CELERY_BROKER_TRANSPORT_OPTIONS=broker_transport_options(broker_url, environ),
            CELERY_TASK_DEFAULT_QUEUE=environ.get("APPCTL_QUEUE") or "celery",
        )
        if database_url.startswith("sqlite"):
            settings["SQLALCHEMY_ENGINE_OPTIONS"] = {"connect_args": {"timeout": 30}}
        if backend_url.startswith("db+sqlite"):
            settings["CELERY_DATABASE_ENGINE_OPTIONS"] = {"connect_args": {"timeout": 30}}
        settings["DIVIDE_DELAY"] = seconds_setting(environ, "APPCTL_DIVIDE_DELAY", cls.DIVIDE_DELAY)
        interval = seconds_setting(environ, "APPCTL_HEARTBEAT_INTERVAL", DEFAULT_HEARTBEAT_INTERVAL)
        settings["APPCTL_HEARTBEAT_INTERVAL"] = max(interval, 0.1)
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
