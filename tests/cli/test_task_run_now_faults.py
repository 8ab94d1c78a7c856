"""`appctl task run-now` when the broker fails: the scheduled job is kept, never revoked with no copy sent.

A private Redis broker is paused (SIGSTOP) or killed during `task run-now`; the job stays scheduled, and
once the broker is back `task run-now` runs it on a real `appctl worker`. Embedded and PostgreSQL history.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import APPCTL, DATABASES, run_appctl
from tests.processes import worker_process
from tests.redis_server import RedisServer, private_redis


@pytest.fixture(params=DATABASES)
def broker(request: pytest.FixtureRequest, env: dict[str, str], tmp_path: Path) -> Iterator[RedisServer]:
    """A private Redis broker for ``env`` (on SQLite or a fresh PostgreSQL schema), migrated."""
    if request.param == "postgresql":
        env["DATABASE_URL"] = request.getfixturevalue("pg_url")
    with private_redis(tmp_path) as server:
        env["CELERY_BROKER_URL"] = server.url()
        upgraded = run_appctl("db", "upgrade", env=env)
        assert upgraded.returncode == 0, upgraded.stderr
        yield server


def job(env: dict[str, str], task_id: str) -> dict[str, Any]:
    shown = run_appctl("task", "status", task_id, "-o", "json", env=env)
    assert shown.returncode == 0, shown.stderr
    [record] = json.loads(shown.stdout)
    return dict(record)


def scheduled_ids(env: dict[str, str]) -> set[str]:
    listed = run_appctl("task", "history", "--scheduled", "-o", "json", env=env)
    assert listed.returncode == 0, listed.stderr
    return {record["id"] for record in json.loads(listed.stdout)}


@pytest.mark.parametrize("fault", ["pause", "kill"])
def test_a_broker_failing_during_run_now_leaves_the_job_scheduled(
    env: dict[str, str], broker: RedisServer, tmp_path: Path, fault: str
) -> None:
    sent = run_appctl("task", "send", "divide", "3", "4", "--countdown", "3600", env=env)
    assert sent.returncode == 0, sent.stderr
    scheduled = sent.stdout.strip()
    getattr(broker, fault)()
    try:
        failed = run_appctl("task", "run-now", scheduled, env=env)
    finally:
        if fault == "pause":
            broker.resume()
        else:
            broker.start()
    assert (failed.returncode, failed.stdout) == (69, "")
    assert failed.stderr.splitlines()[-1].startswith("Error: cannot reach the broker"), failed.stderr
    kept = job(env, scheduled)
    assert (kept["state"], kept["revoked_at"], kept["retried_by"]) == ("PENDING", None, None)
    assert scheduled in scheduled_ids(env)
    command = [APPCTL, "worker", "--loglevel=info", "--concurrency=1"]
    with worker_process(command, env, tmp_path / "worker.log"):
        ran = run_appctl("task", "run-now", scheduled, env=env)
        assert ran.returncode == 0, ran.stderr
        waited = run_appctl("result", "wait", ran.stdout.strip(), "--timeout", "120", env=env)
    assert (waited.returncode, waited.stdout) == (0, "0.75\n"), waited.stderr
    assert job(env, scheduled)["state"] == "REVOKED"
