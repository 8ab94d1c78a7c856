"""The bounds (project/bounds.py): defaults, environment overrides, and where they reach Celery,
kombu and SQLAlchemy; the no-lost-jobs settings; workers' patience with the result backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from project.bounds import Bounds
from project.config import BaseConfig

DEFAULTS = Bounds(
    connect_timeout=3.0,
    socket_timeout=4.0,
    publish_retries=2,
    visibility_timeout=3600.0,
    restore_interval=10.0,
    sqlite_busy_timeout=30.0,
)
REDIS = "redis://127.0.0.1:6379/0"


def settings(tmp_path: Path, **environ: str) -> dict[str, Any]:
    return BaseConfig.from_environ({"APPCTL_DATA_DIR": str(tmp_path), **environ})


def test_the_documented_defaults() -> None:
    assert Bounds.from_environ({}) == DEFAULTS


def test_every_bound_comes_from_the_environment() -> None:
    environ = {
        "APPCTL_CONNECT_TIMEOUT": "1.5",
        "APPCTL_SOCKET_TIMEOUT": "2",
        "APPCTL_PUBLISH_RETRIES": "0",
        "CELERY_VISIBILITY_TIMEOUT": "7200",
        "APPCTL_RESTORE_INTERVAL": "5",
        "APPCTL_SQLITE_BUSY_TIMEOUT": "60",
        "APPCTL_HISTORY_FLUSH_INTERVAL": "0.25",
    }
    assert Bounds.from_environ(environ) == Bounds(1.5, 2.0, 0, 7200.0, 5.0, 60.0, 0.25)


def test_redis_broker_and_backend_are_bounded(tmp_path: Path) -> None:
    conf = settings(tmp_path, CELERY_BROKER_URL=REDIS, CELERY_RESULT_BACKEND=REDIS, APPCTL_SOCKET_TIMEOUT="2")
    assert conf["CELERY_BROKER_TRANSPORT_OPTIONS"] == {
        "visibility_timeout": 3600.0,
        "max_retries": 2,
        "socket_connect_timeout": 3.0,
        "socket_timeout": 2.0,
        "unacked_restore_interval": 10.0,
        "unacked_restore_throttle": 1,  # a sweep every interval, not every 10 intervals
        "unacked_mutex_expire": 30,  # the sweep lock outlives a lost holder by a few sweeps, not 300 s
    }
    assert (conf["CELERY_REDIS_SOCKET_CONNECT_TIMEOUT"], conf["CELERY_REDIS_SOCKET_TIMEOUT"]) == (3.0, 2.0)
    assert conf["CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS"] == {"retry_policy": {"max_retries": 0}}
    assert conf["CELERY_RESULT_BACKEND_MAX_RETRIES"] == 0
    assert conf["CELERY_BROKER_CONNECTION_TIMEOUT"] == 3.0
    assert conf["CELERY_TASK_PUBLISH_RETRY_POLICY"]["max_retries"] == 2


def test_the_embedded_broker_redelivers_and_waits_for_locks(tmp_path: Path) -> None:
    options = settings(tmp_path, CELERY_VISIBILITY_TIMEOUT="60")["CELERY_BROKER_TRANSPORT_OPTIONS"]
    assert options["visibility_timeout"] == 60.0
    assert options["unacked_restore_interval"] == 10.0
    assert options["connect_args"] == {"timeout": 30.0}


def test_postgresql_connections_are_bounded(tmp_path: Path) -> None:
    url = "postgresql://app@127.0.0.1/app"
    conf = settings(tmp_path, DATABASE_URL=url, CELERY_RESULT_BACKEND="db+" + url, APPCTL_CONNECT_TIMEOUT="5")
    assert conf["SQLALCHEMY_ENGINE_OPTIONS"] == {"connect_args": {"connect_timeout": 5}, "hide_parameters": True}
    assert conf["CELERY_DATABASE_ENGINE_OPTIONS"] == {"connect_args": {"connect_timeout": 5}}


def test_sqlite_waits_for_locks(tmp_path: Path) -> None:
    conf = settings(tmp_path, APPCTL_SQLITE_BUSY_TIMEOUT="12")
    assert conf["SQLALCHEMY_ENGINE_OPTIONS"] == {"connect_args": {"timeout": 12.0}, "hide_parameters": True}
    assert conf["CELERY_DATABASE_ENGINE_OPTIONS"] == {"connect_args": {"timeout": 12.0}}


def test_amqp_keeps_the_redelivery_options(tmp_path: Path) -> None:
    options = settings(tmp_path, CELERY_BROKER_URL="amqp://guest@127.0.0.1//")["CELERY_BROKER_TRANSPORT_OPTIONS"]
    assert options == {"visibility_timeout": 3600.0, "max_retries": 2}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("APPCTL_CONNECT_TIMEOUT", "soon"),
        ("APPCTL_SOCKET_TIMEOUT", "-1"),
        ("APPCTL_PUBLISH_RETRIES", "two"),
        ("APPCTL_PUBLISH_RETRIES", "-1"),
        ("CELERY_VISIBILITY_TIMEOUT", "inf"),
        ("APPCTL_RESTORE_INTERVAL", "nan"),
        ("APPCTL_SQLITE_BUSY_TIMEOUT", "1e400"),
        ("APPCTL_SQLITE_BUSY_TIMEOUT", "1_0"),
        ("APPCTL_CONNECT_TIMEOUT", "0"),  # below its least (0.1): refused, not raised to it
        ("APPCTL_SOCKET_TIMEOUT", "0.05"),
        ("APPCTL_RESTORE_INTERVAL", "0"),
    ],
)
def test_a_bad_bound_is_a_config_error(name: str, value: str) -> None:
    from project.errors import ConfigError

    with pytest.raises(ConfigError, match=name):
        Bounds.from_environ({name: value})


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("APPCTL_BEAT_LEASE", "0.5", "APPCTL_BEAT_LEASE must be a number of seconds from 1 to"),
        ("APPCTL_BEAT_LEASE", "0", "APPCTL_BEAT_LEASE must be a number of seconds from 1 to"),
        ("APPCTL_HEARTBEAT_INTERVAL", "0", "APPCTL_HEARTBEAT_INTERVAL must be a number of seconds from 0.1 to"),
    ],
)
def test_a_setting_below_its_least_is_a_config_error(tmp_path: Path, name: str, value: str, message: str) -> None:
    from project.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        settings(tmp_path, **{name: value})
    assert settings(tmp_path, **{name: "1"})[name] == 1.0


def test_no_lost_jobs_settings(app: Any) -> None:
    conf = app.extensions["celery"].conf
    assert (conf.task_acks_late, conf.task_reject_on_worker_lost, conf.worker_prefetch_multiplier) == (True, True, 1)
    assert (conf.task_serializer, conf.result_serializer, conf.accept_content) == ("json", "json", ["json"])


def test_a_worker_goes_back_to_celerys_patient_result_retries(app: Any, worker: Any) -> None:
    from celery.backends.database import session

    assert worker.conf.result_backend_transport_options["retry_policy"]["max_retries"] == 20
    assert worker.conf.result_backend_max_retries is None  # Celery's own default
    assert session.PREPARE_MODELS_MAX_RETRIES == 10
