"""``appctl result wait`` through CliRunner, with one real worker thread for the module."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner

from cli import cli


def invoke(runner: CliRunner, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def send(runner: CliRunner, *args: str) -> str:
    code, stdout, stderr = invoke(runner, "task", "send", "divide", *args)
    assert code == 0, stderr
    return stdout.strip()


@pytest.fixture
def done_jobs(runner: CliRunner, shared_worker: Any) -> tuple[str, str, str]:
    """Ids of divide(1, 2), divide(1, 4) and divide(1, 0), all finished."""
    ids = send(runner, "1", "2"), send(runner, "1", "4"), send(runner, "1", "0")
    invoke(runner, "result", "wait", *ids, "--timeout", "30")
    return ids


def test_wait_prints_each_result_in_order(runner: CliRunner, done_jobs: tuple[str, str, str]) -> None:
    half, quarter, _ = done_jobs
    assert invoke(runner, "result", "wait", quarter, half) == (0, "0.25\n0.5\n", "")


def test_wait_for_jobs_still_running(runner: CliRunner, shared_worker: Any) -> None:
    ids = [send(runner, "1", "8") for _ in range(3)]
    assert invoke(runner, "result", "wait", *ids, "--timeout", "30") == (0, "0.125\n0.125\n0.125\n", "")


def test_a_failed_job_is_exit_1_after_the_other_results(runner: CliRunner, done_jobs: tuple[str, str, str]) -> None:
    half, _, failed = done_jobs
    code, stdout, stderr = invoke(runner, "result", "wait", half, failed)
    assert (code, stdout) == (1, "0.5\n")
    assert stderr == f"Error: task {failed} failure: ZeroDivisionError: division by zero\n"


def test_json_has_one_record_a_job(runner: CliRunner, done_jobs: tuple[str, str, str]) -> None:
    half, _, failed = done_jobs
    code, stdout, _ = invoke(runner, "result", "wait", half, failed, "-o", "json")
    records = json.loads(stdout)
    assert code == 1
    assert [(r["id"], r["state"], r["result"], r["error"]) for r in records] == [
        (half, "SUCCESS", 0.5, None),
        (failed, "FAILURE", None, "ZeroDivisionError: division by zero"),
    ]
    for record in records:  # ISO 8601 in UTC with the zone, as `task history` prints it
        assert datetime.fromisoformat(record["finished_at"]).utcoffset() == timedelta(0), record


def test_jsonl_and_csv(runner: CliRunner, done_jobs: tuple[str, str, str]) -> None:
    half, quarter, _ = done_jobs
    code, stdout, _ = invoke(runner, "result", "wait", half, quarter, "-o", "jsonl")
    assert (code, [json.loads(line)["result"] for line in stdout.splitlines()]) == (0, [0.5, 0.25])
    code, stdout, _ = invoke(runner, "result", "wait", half, "-o", "csv")
    rows = list(csv.DictReader(io.StringIO(stdout)))
    assert (code, [(r["id"], r["state"], r["result"]) for r in rows]) == (0, [(half, "SUCCESS", "0.5")])


def test_a_made_up_id_is_not_found_at_once(runner: CliRunner, shared_worker: Any) -> None:
    code, stdout, stderr = invoke(runner, "result", "wait", "made-up-id", "--timeout", "60")
    assert (code, stdout) == (3, "")
    assert stderr.startswith("Error: no job 'made-up-id' is known to the job history or the result backend")


def test_a_job_not_done_in_time_is_124(runner: CliRunner, shared_worker: Any) -> None:
    idle = send(runner, "1", "2", "--queue", "no-worker-here")
    timed_out = (124, "", f"Error: timed out after 0.5s waiting for {idle}\n")
    assert invoke(runner, "result", "wait", idle, "--timeout", "0.5") == timed_out


def test_the_default_timeout_comes_from_the_environment(
    runner: CliRunner, shared_worker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    idle = send(runner, "1", "2", "--queue", "no-worker-here")
    monkeypatch.setenv("APPCTL_WAIT_TIMEOUT", "0.3")
    assert invoke(runner, "result", "wait", idle) == (124, "", f"Error: timed out after 0.3s waiting for {idle}\n")


def test_the_timeout_names_only_the_jobs_not_done(runner: CliRunner, done_jobs: tuple[str, str, str]) -> None:
    idle = send(runner, "1", "2", "--queue", "no-worker-here")
    code, stdout, stderr = invoke(runner, "result", "wait", done_jobs[0], idle, "--timeout", "0.3")
    assert (code, stdout, stderr) == (124, "", f"Error: timed out after 0.3s waiting for {idle}\n")


@pytest.mark.parametrize("bad_id", ["line\nend", "", "x" * 256, "tab\tid", "\udcff"])
def test_an_id_that_cannot_be_a_task_id_is_exit_65(runner: CliRunner, app: Any, bad_id: str) -> None:
    code, stdout, stderr = invoke(runner, "result", "wait", bad_id)
    assert (code, stdout) == (65, "")
    assert stderr.startswith("Error: ") and stderr.endswith(" is not a task id\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [([], "Missing argument 'ID...'"), (["x", "--timeout", "-1"], "Invalid value for '--timeout'")],
)
def test_usage_errors(runner: CliRunner, app: Any, args: list[str], message: str) -> None:
    code, stdout, stderr = invoke(runner, "result", "wait", *args)
    assert (code, stdout) == (2, "")
    assert message in stderr


@pytest.mark.parametrize(
    "stored",
    ["2026-11-26T04:46:01.252776", "2026-11-26T04:46:01.252776+00:00", datetime(2026, 11, 26, 4, 46, 1, 252776)],
    ids=["redis-naive", "redis-aware", "database"],
)
def test_finished_at_is_utc_with_its_zone_from_every_backend(stored: Any) -> None:
    """Redis stores ``date_done`` as a string, the database backend as a naive datetime; both are UTC."""
    from project.jobs.results import utc_iso

    assert utc_iso(stored) == "2026-11-26T04:46:01.252776+00:00"
    assert utc_iso(None) is None


def test_a_job_an_outside_client_sent_with_any_printable_id_is_addressable(runner: CliRunner, app: Any) -> None:
    """Celery takes any id: one with spaces and non-ASCII letters is shown, waited for and revoked by it."""
    task_id = "my id with spaces/äöü"
    app.extensions["celery"].send_task("project.users.tasks.divide", args=[5, 5], task_id=task_id)
    code, stdout, _ = invoke(runner, "task", "status", task_id, "-o", "plain")
    assert (code, stdout.split("\t")[:3]) == (0, [task_id, "project.users.tasks.divide", "PENDING"])
    assert invoke(runner, "task", "revoke", task_id)[0] == 0
    code, _, stderr = invoke(runner, "result", "wait", task_id, "--timeout", "60")
    assert (code, stderr.startswith(f"Error: task {task_id} revoked")) == (1, True)
