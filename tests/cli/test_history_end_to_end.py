"""The issue's "done when", as a new user would try it: real `appctl worker` processes, real services.

One run per system (the embedded default; Redis for broker and results + PostgreSQL) sends a good
and a failing job to a worker and stops it; each test then checks one claim about that run.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from project.jobs.history.read import find_job
from tests.conftest import APPCTL, SYSTEMS, invoke_appctl, migrated_system
from tests.jobs.waiting import job_in_state, wait_for
from tests.processes import worker_process


@dataclass
class Run:
    """A finished run: its environment, the two job ids, and `appctl status` while the worker was up."""

    env: dict[str, str]
    good: str
    bad: str
    status_with_worker: Any
    logs: Path


def appctl(env: dict[str, str], *args: str) -> Any:
    """``appctl ARGS`` through Click's runner, the workers in processes of their own."""
    return invoke_appctl(*args, env=env)


def a_worker(env: dict[str, str], log: Path) -> Any:
    return worker_process([APPCTL, "worker", "--loglevel=info", "--concurrency=1"], env, log)


def send(env: dict[str, str], *args: str) -> str:
    sent = appctl(env, "task", "send", "divide", *args)
    assert sent.returncode == 0, sent.stderr
    return str(sent.stdout.strip())


def history(env: dict[str, str], *args: str) -> list[dict[str, Any]]:
    listed = appctl(env, "task", "history", "-o", "json", *args)
    assert listed.returncode == 0, listed.stderr
    return list(json.loads(listed.stdout))


@pytest.fixture(scope="module", params=SYSTEMS)
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """One good and one failing job sent and finished, `status` asked, then the worker stopped."""
    logs = tmp_path_factory.mktemp("history-run")
    with migrated_system(request, logs / "data", "appctl_history") as env:
        with a_worker(env, logs / "worker.log"):
            good, bad = send(env, "1", "2"), send(env, "1", "0")
            assert appctl(env, "result", "wait", good, bad, "--timeout", "60").returncode == 1
            status = appctl(env, "status")
        yield Run(env, good, bad, status, logs)


def test_history_json_shows_both_jobs(run: Run) -> None:
    jobs = history(run.env)
    assert [(job["id"], job["state"]) for job in jobs] == [(run.bad, "FAILURE"), (run.good, "SUCCESS")]
    assert (jobs[0]["error"], jobs[1]["result"]) == ("ZeroDivisionError: division by zero", 0.5)


def test_history_of_failures_shows_only_the_failing_job(run: Run) -> None:
    assert [job["id"] for job in history(run.env, "--state", "FAILURE")] == [run.bad]


def test_task_status_of_the_failing_job_says_failure(run: Run) -> None:
    status = appctl(run.env, "task", "status", run.bad)
    assert (status.returncode, status.stdout.split("\t")[:3], status.stderr) == (
        0,
        [run.bad, "project.users.tasks.divide", "FAILURE"],
        "",
    )


def test_result_wait_of_an_id_never_sent_is_exit_3_at_once(run: Run) -> None:
    waited = appctl(run.env, "result", "wait", str(uuid.uuid4()), "--timeout", "3600")  # never waits it out
    assert (waited.returncode, waited.stdout) == (3, "")
    assert "is known to the job history or the result backend" in waited.stderr


def test_status_is_exit_0_with_a_worker_up(run: Run) -> None:
    assert (run.status_with_worker.returncode, run.status_with_worker.stderr) == (0, ""), run.status_with_worker


def test_status_is_exit_1_without_a_worker(run: Run) -> None:
    status = appctl(run.env, "status")
    assert (status.returncode, status.stderr) == (1, "Error: not healthy: workers\n")


def test_history_and_revokes_survive_a_worker_restart(run: Run) -> None:
    """Last in the module: it adds jobs to the run's history."""
    revoked, kept = send(run.env, "1", "4"), send(run.env, "1", "8")  # no worker running: both wait
    assert appctl(run.env, "task", "revoke", revoked).returncode == 0
    with a_worker(run.env, run.logs / "second-worker.log"):
        waited = appctl(run.env, "result", "wait", kept, "--timeout", "60")
        assert (waited.returncode, waited.stdout) == (0, "0.125\n")
    jobs = {job["id"]: job for job in history(run.env)}
    states = {run.good: "SUCCESS", run.bad: "FAILURE", revoked: "REVOKED", kept: "SUCCESS"}
    assert {task_id: job["state"] for task_id, job in jobs.items()} == states
    assert jobs[revoked]["started_at"] is None  # skipped, never run


def test_terminate_stops_a_running_job_on_the_embedded_broker(app: Any, env: dict[str, str], tmp_path: Path) -> None:
    slow = {**env, "APPCTL_DIVIDE_DELAY": "120", "APPCTL_HEARTBEAT_INTERVAL": "0.5"}
    with a_worker(slow, tmp_path / "worker.log") as worker:
        task_id = send(env, "1", "2")
        wait_for(job_in_state(task_id, "STARTED"), what="the job to start")
        assert appctl(env, "task", "revoke", task_id, "--terminate").returncode == 0
        wait_for(job_in_state(task_id, "REVOKED"), what="the job to be terminated")
        assert worker.process.poll() is None  # the worker itself goes on
    record = find_job(task_id)
    assert record is not None and record["error"] == "TaskRevokedError: terminated"
    waited = appctl(env, "result", "wait", task_id, "--timeout", "3600")  # revoked: answers at once
    assert (waited.returncode, waited.stderr.startswith(f"Error: task {task_id} revoked")) == (1, True)
