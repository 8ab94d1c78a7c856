"""A worker's history rows are held and written in batches; a warm stop writes them; readers make good a kill.

Real `appctl worker` processes (prefork, two pool processes) on the embedded default and on Redis +
PostgreSQL. The history is read here with ``find_job``, which only reads, so that what a test sees
is what the worker wrote, not what a reader made good.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from project import create_app
from project.extensions import db
from project.jobs.history import buffer
from project.jobs.history.read import find_job
from project.jobs.history.values import FINISHED_STATES
from project.jobs.results import job_state
from project.jobs.send import send_job
from project.migrations import upgrade_database
from tests.conftest import HANG, fresh_pg_schema, run_appctl, thread_worker
from tests.jobs.waiting import wait_for
from tests.processes import WorkerProcess, kill_group, worker_command, worker_process

HELD = "3600"  # a flush interval no test outlives: rows are written only by a stop or a reader


@pytest.fixture(params=["embedded", pytest.param("redis+postgresql", marks=pytest.mark.services)])
def system_env(request: pytest.FixtureRequest, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """The test environment on the embedded default, or on Redis (broker, results) and a PostgreSQL
    schema of its own (the test lists the whole history)."""
    if request.param != "embedded":
        redis_url = request.getfixturevalue("redis_url")
        services = {
            "DATABASE_URL": request.getfixturevalue("own_pg_url"),
            "CELERY_BROKER_URL": redis_url,
            "CELERY_RESULT_BACKEND": redis_url,
        }
        for name, value in services.items():
            monkeypatch.setenv(name, value)
        env.update(services)
    return env


@pytest.fixture
def own_pg_url() -> Iterator[str]:
    """A fresh PostgreSQL schema for this test alone, dropped afterwards."""
    with fresh_pg_schema("appctl_buffer") as url:
        yield url


@pytest.fixture
def history_app(system_env: dict[str, str]) -> Iterator[Any]:
    """The app of ``system_env``, migrated, in its app context (only this test's schema, queue, files)."""
    app = create_app("testing")
    with app.app_context():
        upgrade_database()
        yield app


def a_worker(env: dict[str, str], log: Path, interval: str) -> Any:
    """`appctl worker` with two prefork pool processes holding their rows up to ``interval`` seconds."""
    return worker_process(worker_command("held"), {**env, "APPCTL_HISTORY_FLUSH_INTERVAL": interval}, log)


def finished_in_backend(*task_ids: str) -> None:
    """Wait until the result backend knows every job's outcome (a read only: nothing is written)."""
    wait_for(
        lambda: all(job_state(task_id)["state"] in FINISHED_STATES for task_id in task_ids),
        timeout=HANG,
        what="the result backend to hold every outcome",
    )


def states(*task_ids: str) -> list[str]:
    """Each job's state as the history holds it."""
    return [record["state"] if (record := find_job(task_id)) else "absent" for task_id in task_ids]


def stop_warm(worker: WorkerProcess) -> None:
    """SIGTERM the worker's main process (Celery's warm shutdown) and wait for it to exit."""
    worker.process.send_signal(signal.SIGTERM)
    worker.process.wait(timeout=HANG)


def test_a_running_worker_writes_its_rows_within_the_interval(history_app: Any, tmp_path: Path) -> None:
    env = dict(os.environ)
    with a_worker(env, tmp_path / "worker.log", interval="0.5") as worker:
        good, bad = send_job("divide", [1, 2]), send_job("divide", [1, 0])
        finished_in_backend(good, bad)
        wait_for(lambda: states(good, bad) == ["SUCCESS", "FAILURE"], timeout=HANG, what="the worker's rows")
        assert worker.process.poll() is None  # written by the running worker, not by its stop
    done, failed = find_job(good), find_job(bad)
    assert done is not None and failed is not None
    assert (done["result"], done["error"], failed["error"]) == (0.5, None, "ZeroDivisionError: division by zero")
    for record in (done, failed):
        assert record["sent_at"] <= record["started_at"] <= record["finished_at"]
        assert record["worker"] and record["worker"].startswith("held@")


def test_a_warm_stop_writes_every_row_the_worker_held(history_app: Any, tmp_path: Path) -> None:
    env = dict(os.environ)
    with a_worker(env, tmp_path / "worker.log", interval=HELD) as worker:
        ids = [send_job("divide", [number, 2]) for number in range(12)]
        finished_in_backend(*ids)
        assert set(states(*ids)) == {"PENDING"}  # held: nothing written yet
        stop_warm(worker)
    assert states(*ids) == ["SUCCESS"] * len(ids), worker.log()
    assert [record["result"] for record in map(find_job, ids) if record] == [number / 2 for number in range(12)]


def test_after_a_kill_every_reader_makes_the_history_good(history_app: Any, tmp_path: Path) -> None:
    env = dict(os.environ)
    with a_worker(env, tmp_path / "worker.log", interval=HELD) as worker:
        for_status, for_wait, for_history = (
            send_job("divide", [1, 2]),
            send_job("divide", [3, 2]),
            send_job("divide", [1, 0]),
        )
        finished_in_backend(for_status, for_wait, for_history)
        kill_group(worker.process)  # SIGKILL: the rows the pool processes held are lost
    assert states(for_status, for_wait, for_history) == ["PENDING"] * 3

    status = run_appctl("task", "status", for_status, "-o", "json", env=env)
    assert (status.returncode, json.loads(status.stdout)[0]["state"], status.stderr) == (0, "SUCCESS", "")
    waited = run_appctl("result", "wait", for_wait, "--timeout", str(HANG), env=env)
    assert (waited.returncode, waited.stdout) == (0, "1.5\n")
    assert states(for_status, for_wait, for_history) == ["SUCCESS", "SUCCESS", "PENDING"]

    listed = run_appctl("task", "history", "-o", "json", env=env)
    assert listed.returncode == 0, listed.stderr
    shown = {job["id"]: (job["state"], job["result"], job["error"]) for job in json.loads(listed.stdout)}
    failure = ("FAILURE", None, "ZeroDivisionError: division by zero")
    assert shown == {for_status: ("SUCCESS", 0.5, None), for_wait: ("SUCCESS", 1.5, None), for_history: failure}
    record = find_job(for_history)
    assert record is not None and (record["state"], record["error"], record["finished_at"] is not None) == (
        "FAILURE",
        "ZeroDivisionError: division by zero",
        True,
    )


def test_a_batch_is_one_statement(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APPCTL_HISTORY_FLUSH_INTERVAL", HELD)
    app = create_app("testing")
    with app.app_context():
        upgrade_database()
        statements: list[int] = []

        def count(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
            if statement.startswith("INSERT INTO jobs") and "ON CONFLICT" in statement and "started_at" in statement:
                statements.append(len(parameters) if many else 1)

        with thread_worker(app.extensions["celery"]):
            ids = [send_job("divide", [number, 1]) for number in range(10)]
            finished_in_backend(*ids)
            assert set(states(*ids)) == {"PENDING"}
            event.listen(db.engine, "before_cursor_execute", count)
            try:
                buffer.flush_all(app)
            finally:
                event.remove(db.engine, "before_cursor_execute", count)
        assert statements == [10]  # each job's start and outcome merged: one row a job, one statement
        assert states(*ids) == ["SUCCESS"] * 10
