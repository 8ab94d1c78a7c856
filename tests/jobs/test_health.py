"""``system_status``: each check on the embedded default, with and without a worker."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from project.errors import UPGRADE_DATABASE
from project.extensions import db
from project.jobs.health import system_status
from project.jobs.history.models import heartbeats
from project.jobs.history.values import utcnow
from project.migrations import downgrade_database
from tests.redis_server import private_redis


def checks() -> dict[str, dict[str, Any]]:
    return {check["check"]: check for check in system_status()}


def test_healthy_with_a_worker(worker: Any) -> None:
    found = checks()
    assert [name for name, check in found.items() if not check["ok"]] == []
    [alive] = found["workers"]["data"]["workers"]
    assert alive["queues"] == [worker.conf.task_default_queue]
    assert alive["active"] == []
    assert found["workers"]["detail"] == f"{alive['name']} (0 active)"
    assert found["broker"]["data"]["depth"] == 0
    assert found["database"]["data"]["revision"] == found["database"]["data"]["head"] == "0007"


def test_no_worker_is_unhealthy(app: Any) -> None:
    found = checks()
    assert {name: check["ok"] for name, check in found.items()} == {
        "database": True,
        "broker": True,
        "result backend": True,
        "workers": False,
    }
    assert found["workers"]["detail"] == f"no worker consumes queue {app.config['CELERY_TASK_DEFAULT_QUEUE']}"


def test_workers_elsewhere_or_silent_do_not_count(app: Any) -> None:
    now = utcnow()
    rows = [
        {
            "hostname": "celery@other",
            "queues": ["other"],
            "active": [],
            "last_seen": now,
            "expires_at": now + timedelta(seconds=10),
        },
        {
            "hostname": "celery@gone",
            "queues": [app.config["CELERY_TASK_DEFAULT_QUEUE"]],
            "active": [],
            "last_seen": now - timedelta(minutes=5),
            "expires_at": now - timedelta(minutes=4),
        },
    ]
    with db.engine.begin() as conn:
        conn.execute(insert(heartbeats), rows)
    workers = checks()["workers"]
    assert (workers["ok"], [w["name"] for w in workers["data"]["workers"]]) == (False, ["celery@other"])
    assert workers["detail"].endswith("(1 on other queues)")


def test_jobs_waiting_are_counted(app: Any) -> None:
    from project.jobs.send import send_job

    for _ in range(3):
        send_job("divide", [1, 2])
    assert checks()["broker"]["data"]["depth"] == 3


def test_a_database_behind_head_is_unhealthy(app: Any) -> None:
    downgrade_database("0001")
    database = checks()["database"]
    assert database["ok"] is False
    assert database["detail"].endswith("at 0001, 6 migration(s) pending")
    assert database["remedy"] == UPGRADE_DATABASE


def test_a_paused_broker_fails_the_broker_check_only_and_the_heartbeats_still_count(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A worker whose heartbeat is fresh is alive even when the broker does not answer Celery's ping."""
    from project import create_app
    from project.migrations import upgrade_database

    with private_redis(tmp_path) as redis_server:
        monkeypatch.setenv("CELERY_BROKER_URL", redis_server.url())
        app = create_app("testing")
        with app.app_context():
            upgrade_database()
            now = utcnow()
            queue = app.config["CELERY_TASK_DEFAULT_QUEUE"]
            row = {"hostname": "celery@alive", "queues": [queue], "active": [], "last_seen": now}
            with db.engine.begin() as conn:
                conn.execute(insert(heartbeats), [{**row, "expires_at": now + timedelta(minutes=5)}])
            redis_server.pause()
            try:
                found = checks()
            finally:
                redis_server.resume()
    assert (found["broker"]["ok"], found["workers"]["ok"]) == (False, True), found
    assert found["workers"]["detail"] == "celery@alive (0 active)"


@pytest.mark.parametrize(
    ("spellings", "identity"),
    [
        (
            ["redis://localhost", "redis://localhost:6379/0", "redis://:secret@localhost:6379//"],
            "redis://localhost:6379/0",
        ),
        (["redis://[::1]:6395/0", "redis://[::1]:6395"], "redis://[::1]:6395/0"),
        (["amqp://guest:guest@127.0.0.1//", "amqp://other:pw@127.0.0.1:5672//"], "amqp://127.0.0.1:5672//"),
        (
            ["sqla+sqlite:////tmp/x//broker.sqlite", "sqla+sqlite:////tmp/x/./broker.sqlite"],
            "sqla+sqlite:////tmp/x/broker.sqlite",
        ),
    ],
)
def test_a_broker_is_one_identity_however_its_url_is_spelled(spellings: list[str], identity: str) -> None:
    """What a heartbeat records and `status` compares: no credentials, default port and database filled in."""
    from celery import Celery

    from project.jobs.heartbeat import broker_identity

    assert {broker_identity(Celery(broker=url)) for url in spellings} == {identity}
