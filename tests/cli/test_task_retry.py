"""`appctl task retry`, `task run-now` and `task history --scheduled` as users run them: `appctl` processes
and a real `appctl worker`, on the embedded default and on Redis + PostgreSQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from project.jobs.history.values import RESULT_LIMIT
from tests.conftest import APPCTL, SYSTEMS, invoke_appctl, migrated_system
from tests.processes import WorkerProcess, worker_process


@dataclass
class System:
    """An environment with a worker running for the whole module."""

    env: dict[str, str]
    worker: WorkerProcess


@pytest.fixture(scope="module", params=SYSTEMS)
def system(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    logs = tmp_path_factory.mktemp("retry")
    with migrated_system(request, logs / "data", "appctl_retry") as env:
        command = [APPCTL, "worker", "--loglevel=info", "--concurrency=2"]
        with worker_process(command, env, logs / "worker.log") as worker:
            yield System(env, worker)


def appctl(env: dict[str, str], *args: str) -> Any:
    """``appctl ARGS`` through Click's runner, the workers in processes of their own."""
    return invoke_appctl(*args, env=env)


def send(system: System, *args: str) -> str:
    sent = appctl(system.env, "task", "send", "divide", *args)
    assert sent.returncode == 0, sent.stderr
    return str(sent.stdout.strip())


def waited(system: System, task_id: str) -> tuple[int, str]:
    done = appctl(system.env, "result", "wait", task_id, "--timeout", "120")
    return done.returncode, done.stdout


def job(system: System, task_id: str) -> dict[str, Any]:
    shown = appctl(system.env, "task", "status", task_id, "-o", "json")
    assert shown.returncode == 0, shown.stderr
    [record] = json.loads(shown.stdout)
    return dict(record)


def test_a_failed_job_is_retried_with_its_arguments_and_the_rows_are_linked(system: System) -> None:
    failed = send(system, "1", "0", "--queue", system.env["APPCTL_QUEUE"])
    assert waited(system, failed)[0] == 1
    retried = appctl(system.env, "task", "retry", failed)
    assert (retried.returncode, retried.stderr) == (0, "")
    new = retried.stdout.strip()
    assert retried.stdout == f"{new}\n" and new != failed  # plain: the new id only
    assert waited(system, new)[0] == 1  # the same arguments fail the same way, on the same queue
    old_job, new_job = job(system, failed), job(system, new)
    assert (new_job["retry_of"], new_job["args"], new_job["kwargs"], new_job["queue"]) == (
        failed,
        [1, 0],
        {},
        old_job["queue"],
    )
    assert (new_job["state"], new_job["error"]) == ("FAILURE", "ZeroDivisionError: division by zero")
    assert (old_job["retried_by"], old_job["state"]) == (new, "FAILURE")


def test_json_output_names_both_ids_in_the_order_given(system: System) -> None:
    ids = [send(system, str(n), "4") for n in (1, 2)]
    assert all(waited(system, task_id)[0] == 0 for task_id in ids)
    retried = appctl(system.env, "task", "retry", *ids, "-o", "json")
    copies = json.loads(retried.stdout)
    assert retried.returncode == 0 and [copy["retry_of"] for copy in copies] == ids
    assert {copy["state"] for copy in copies} == {"PENDING"} and all(copy["eta"] is None for copy in copies)
    assert [waited(system, copy["id"]) for copy in copies] == [(0, "0.25\n"), (0, "0.5\n")]


def test_a_waiting_job_is_refused_with_exit_4_unless_forced(system: System) -> None:
    scheduled = send(system, "1", "2", "--countdown", "3600")
    refused = appctl(system.env, "task", "retry", scheduled)
    assert (refused.returncode, refused.stdout) == (4, "")
    assert refused.stderr == (
        f"Error: not finished, so not retried: {scheduled} (PENDING) (hint: wait for it to finish, "
        "or `appctl task retry --force` sends it again anyway)\n"
    )
    assert job(system, scheduled)["retried_by"] is None
    forced = appctl(system.env, "task", "retry", "--force", scheduled)
    assert forced.returncode == 0, forced.stderr
    assert waited(system, forced.stdout.strip()) == (0, "0.5\n")  # the copy does not wait the hour


def test_keep_schedule_keeps_the_eta(system: System) -> None:
    scheduled = send(system, "1", "2", "--countdown", "3600", "--expires", "7200")
    kept = appctl(system.env, "task", "retry", "--force", "--keep-schedule", scheduled, "-o", "jsonl")
    [copy] = [json.loads(line) for line in kept.stdout.splitlines()]
    original = job(system, scheduled)
    assert (copy["eta"], copy["expires"]) == (original["eta"], original["expires"])
    assert job(system, copy["id"])["eta"] == original["eta"]


def test_unknown_ids_and_truncated_arguments_are_refused(system: System) -> None:
    unknown = appctl(system.env, "task", "retry", str(uuid.uuid4()))
    assert (unknown.returncode, unknown.stdout, "is not in the job history" in unknown.stderr) == (3, "", True)
    big = send(system, "x" * RESULT_LIMIT, "1")  # a TypeError in the worker; its args too large to keep
    assert waited(system, big)[0] == 1
    refused = appctl(system.env, "task", "retry", big)
    assert (refused.returncode, refused.stdout) == (65, "")
    assert refused.stderr.startswith(f"Error: job {big} cannot be sent again: its args (")
    assert "too large for the history" in refused.stderr


def test_history_scheduled_shows_the_due_time_and_run_now_runs_the_job(system: System) -> None:
    before = datetime.now(UTC)
    scheduled = send(system, "3", "4", "--countdown", "10800")
    listed = appctl(system.env, "task", "history", "--scheduled", "-o", "json")
    [record] = [record for record in json.loads(listed.stdout) if record["id"] == scheduled]
    eta = datetime.fromisoformat(record["eta"])
    assert eta.utcoffset() == timedelta(0) and eta >= before + timedelta(hours=3)
    ran = appctl(system.env, "task", "run-now", scheduled)
    assert (ran.returncode, ran.stderr) == (0, "")
    copy = ran.stdout.strip()
    assert waited(system, copy) == (0, "0.75\n")
    old = job(system, scheduled)
    assert (old["state"], old["retried_by"], old["started_at"], job(system, copy)["retry_of"]) == (
        "REVOKED",
        copy,
        None,
        scheduled,
    )
    assert waited(system, scheduled)[0] == 1  # revoked: result wait answers at once
    listed = appctl(system.env, "task", "history", "--scheduled", "-o", "json")
    assert scheduled not in {record["id"] for record in json.loads(listed.stdout)}


def test_run_now_refuses_a_job_not_waiting_for_a_time(system: System) -> None:
    done = send(system, "1", "2")
    assert waited(system, done)[0] == 0
    refused = appctl(system.env, "task", "run-now", done)
    assert (refused.returncode, refused.stdout) == (4, "")
    assert refused.stderr.startswith(f"Error: job {done} is not waiting to run: it is SUCCESS")
    assert job(system, done)["retried_by"] is None
    unknown = appctl(system.env, "task", "run-now", str(uuid.uuid4()))
    assert (unknown.returncode, unknown.stdout) == (3, "")
