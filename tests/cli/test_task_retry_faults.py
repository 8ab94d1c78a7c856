"""`appctl task run-now` and `task retry` when a service fails halfway: never a job lost, never a job
sent that the command does not report.

A private Redis broker is paused (SIGSTOP) or killed during `task run-now`: the job stays scheduled, and
once the broker is back `task run-now` runs it on a real `appctl worker` (SQLite and PostgreSQL history).
A history that refuses the retry link after the broker took the copy: a warning, the new id, exit 0.
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

pytestmark = pytest.mark.slow  # brokers paused and killed: make test-all


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


def test_a_retry_whose_link_the_history_cannot_write_still_prints_the_job_it_sent(
    env: dict[str, str], tmp_path: Path
) -> None:
    """The broker has the copy when the history refuses the link (a trigger stands in for a full disk):
    a warning, the new id and exit 0, never exit 69 "cannot reach the broker" for a job that was sent.
    The copy's row and the link are one transaction: the history keeps both links or neither."""
    import sqlite3

    assert run_appctl("db", "upgrade", env=env).returncode == 0
    command = [APPCTL, "worker", "--loglevel=info", "--concurrency=1"]
    with worker_process(command, env, tmp_path / "worker.log"):
        sent = run_appctl("task", "send", "divide", "1", "0", env=env)
        failed = sent.stdout.strip()
        assert run_appctl("result", "wait", failed, "--timeout", "120", env=env).returncode == 1
        with sqlite3.connect(Path(env["APPCTL_DATA_DIR"]) / "app.sqlite") as database:
            database.execute(
                "CREATE TRIGGER no_link BEFORE UPDATE OF retried_by ON jobs "
                "BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END"
            )
        retried = run_appctl("task", "retry", failed, env=env)
        assert retried.returncode == 0, retried.stderr
        new = retried.stdout.strip()
        assert retried.stderr == (
            f"Warning: the job history did not record the retry of {failed} (the job goes on): disk I/O error\n"
        )
        waited = run_appctl("result", "wait", new, "--timeout", "120", env=env)
    failure = f"Error: task {new} failure: ZeroDivisionError: division by zero"
    assert (waited.returncode, waited.stderr.strip()) == (1, failure)
    assert (job(env, new)["retry_of"], job(env, failed)["retried_by"]) == (None, None)  # the worker's row
