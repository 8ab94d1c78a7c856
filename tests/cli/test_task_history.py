"""``appctl task history|status|revoke|prune`` through CliRunner, on history rows of known content."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner

from cli import cli
from project.jobs.history import write_orm
from project.jobs.history.values import progress_row, sent_row

SENT = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)  # fixed and past: no case depends on when the suite runs
T = SENT.isoformat()
COLUMNS = [
    "id",
    "name",
    "state",
    "args",
    "kwargs",
    "queue",
    "sent_at",
    "started_at",
    "finished_at",
    "worker",
    "retries",
    "result",
    "error",
    "revoked_at",
    "eta",
    "expires",
    "retry_of",
    "retried_by",
    "schedule",
]
GOOD = {
    "id": "good-1",
    "name": "project.users.tasks.divide",
    "state": "SUCCESS",
    "args": [1, 2],
    "kwargs": {},
    "queue": "q",
    "sent_at": T,
    "started_at": T,
    "finished_at": T,
    "worker": "celery@w1",
    "retries": 0,
    "result": 0.5,
    "error": None,
    "revoked_at": None,
    "eta": None,
    "expires": None,
    "retry_of": None,
    "retried_by": None,
    "schedule": None,
}
LATER = SENT + timedelta(seconds=1)
BAD = {
    **GOOD,
    **dict.fromkeys(("sent_at", "started_at", "finished_at"), LATER.isoformat()),
    "id": "bad-1",
    "state": "FAILURE",
    "args": [1, 0],
    "result": None,
    "error": "ZeroDivisionError: division by zero",
}


def invoke(runner: CliRunner, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def store(job: dict[str, Any], sent_at: datetime = SENT) -> None:
    write_orm.OrmHistory().record_sent(
        [sent_row(job["id"], job["name"], job["args"], job["kwargs"], "q", sent_at=sent_at)]
    )
    fields = {"started_at": sent_at, "finished_at": sent_at, "worker": job["worker"], "result": job["result"]}
    if job["error"]:
        kind, _, message = job["error"].partition(": ")
        fields.update(error_type=kind, error_message=message)
    write_orm.OrmHistory().record_progress([progress_row(job["id"], job["state"], 0, fields)])


@pytest.fixture
def two_jobs(app: Any) -> None:
    store(GOOD)
    store(BAD, sent_at=LATER)


def test_history_json_shows_every_field_newest_first(runner: CliRunner, two_jobs: None) -> None:
    code, stdout, stderr = invoke(runner, "task", "history", "-o", "json")
    assert (code, json.loads(stdout), stderr) == (0, [BAD, GOOD], "")


def test_history_jsonl_csv_and_plain(runner: CliRunner, two_jobs: None) -> None:
    code, stdout, _ = invoke(runner, "task", "history", "-o", "jsonl")
    assert (code, [json.loads(line) for line in stdout.splitlines()]) == (0, [BAD, GOOD])
    code, stdout, _ = invoke(runner, "task", "history", "-o", "csv")
    rows = list(csv.reader(io.StringIO(stdout)))
    assert (code, rows[0], [row[:3] for row in rows[1:]]) == (
        0,
        COLUMNS,
        [["bad-1", BAD["name"], "FAILURE"], ["good-1", GOOD["name"], "SUCCESS"]],
    )
    code, stdout, _ = invoke(runner, "task", "history", "--state", "SUCCESS")
    assert (code, stdout) == (
        0,
        f"good-1\t{GOOD['name']}\tSUCCESS\t[1, 2]\t{{}}\tq\t{T}\t{T}\t{T}\tcelery@w1\t0\t0.5\t\t\t\t\t\t\t\n",
    )


def test_history_table(runner: CliRunner, two_jobs: None) -> None:
    code, stdout, _ = invoke(runner, "--no-color", "task", "history", "-o", "table")
    assert code == 0
    assert "good-1" in stdout and "FAILURE" in stdout and "\x1b[" not in stdout


@pytest.mark.parametrize(
    ("args", "ids"),
    [
        (["--state", "FAILURE"], ["bad-1"]),
        (["--state", "failure", "--state", "success"], ["bad-1", "good-1"]),
        (["--name", "divide"], ["bad-1", "good-1"]),
        (["--name", "other"], []),
        (["--since", "1h"], []),  # both were sent before SENT, long ago
        (["--since", (SENT - timedelta(hours=1)).isoformat()], ["bad-1", "good-1"]),
        (["--since", (SENT + timedelta(milliseconds=500)).isoformat()], ["bad-1"]),
        (["--limit", "1"], ["bad-1"]),
        (["--limit", "0"], ["bad-1", "good-1"]),
    ],
)
def test_history_filters(runner: CliRunner, two_jobs: None, args: list[str], ids: list[str]) -> None:
    code, stdout, _ = invoke(runner, "task", "history", *args, "-o", "json")
    assert (code, [job["id"] for job in json.loads(stdout)]) == (0, ids)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--state", "DONE"], 65, "Error: unknown state 'DONE'"),
        (["--since", "yesterday"], 2, "Invalid value for '--since'"),
        (["--limit", "-1"], 2, "Invalid value for '--limit'"),
        (["--scheduled", "--follow"], 2, "Error: --scheduled is for listing: --follow follows every job"),
    ],
)
def test_history_bad_filters(runner: CliRunner, app: Any, args: list[str], code: int, message: str) -> None:
    exit_code, stdout, stderr = invoke(runner, "task", "history", *args)
    assert (exit_code, stdout) == (code, "")
    assert message in stderr


def test_status_of_a_failed_job(runner: CliRunner, two_jobs: None) -> None:
    code, stdout, stderr = invoke(runner, "task", "status", "bad-1", "-o", "json")
    assert (code, json.loads(stdout), stderr) == (0, [BAD], "")


def test_status_prints_the_known_jobs_then_exit_3_for_the_others(runner: CliRunner, two_jobs: None) -> None:
    code, stdout, stderr = invoke(runner, "task", "status", "good-1", "nope-1", "nope-2", "-o", "jsonl")
    assert (code, [json.loads(line)["id"] for line in stdout.splitlines()]) == (3, ["good-1"])
    assert stderr.startswith("Error: no job is known to the job history or the result backend with ids nope-1, nope-2")


def test_status_and_wait_of_an_id_never_sent_are_exit_3(runner: CliRunner, app: Any) -> None:
    for command in (["task", "status"], ["result", "wait", "--timeout", "60"]):
        code, stdout, stderr = invoke(runner, *command, "0f8b6d2e-never-sent")
        assert (code, stdout) == (3, "")
        assert stderr.startswith(
            "Error: no job '0f8b6d2e-never-sent' is known to the job history or the result backend"
        )


@pytest.mark.parametrize("times", [1, 2])  # an id given twice is revoked once, as once
def test_revoke_a_waiting_job_then_wait_is_exit_1_at_once(runner: CliRunner, app: Any, times: int) -> None:
    task_id = invoke(runner, "task", "send", "divide", "1", "2")[1].strip()  # no worker: it waits
    code, stdout, _ = invoke(runner, "task", "revoke", *[task_id] * times, "-o", "json")
    [revoked] = json.loads(stdout)
    assert (code, revoked["state"], revoked["outcome"], revoked["revoked_at"] is not None) == (
        0,
        "REVOKED",
        "revoked",
        True,
    )
    code, stdout, stderr = invoke(runner, "result", "wait", *[task_id] * times, "--timeout", "60")
    assert (code, stdout) == (1, "")
    assert stderr.startswith(f"Error: task {task_id} revoked")
    code, stdout, _ = invoke(runner, "task", "status", *[task_id] * times, "-o", "plain")
    assert (code, [line.split("\t")[0] for line in stdout.splitlines()]) == (0, [task_id])


def test_revoke_leaves_a_finished_job_as_it_is(runner: CliRunner, two_jobs: None) -> None:
    code, stdout, _ = invoke(runner, "task", "revoke", "good-1")
    assert (code, stdout) == (0, "good-1\tproject.users.tasks.divide\tSUCCESS\t\talready finished: SUCCESS\n")


def test_revoke_of_an_unknown_id_changes_nothing(runner: CliRunner, two_jobs: None) -> None:
    task_id = invoke(runner, "task", "send", "divide", "1", "2")[1].strip()
    code, stdout, stderr = invoke(runner, "task", "revoke", task_id, "nope-1")
    assert (code, stdout) == (3, "")
    assert "no job 'nope-1' is known to the job history or the result backend" in stderr
    assert json.loads(invoke(runner, "task", "status", task_id, "-o", "json")[1])[0]["state"] == "PENDING"


def test_prune_needs_yes_without_a_terminal(runner: CliRunner, two_jobs: None) -> None:
    code, stdout, stderr = invoke(runner, "task", "prune", "--older-than", "1h")
    assert (code, stdout) == (2, "")
    assert "refusing to go on without --yes" in stderr


def test_prune_dry_run_then_for_real(runner: CliRunner, two_jobs: None) -> None:
    code, stdout, stderr = invoke(runner, "task", "prune", "--older-than", "1h", "--dry-run", "-o", "json")
    assert (code, [job["id"] for job in json.loads(stdout)]) == (0, ["good-1", "bad-1"])  # oldest first
    assert stderr == "2 job(s) selected.\nDry run: nothing was deleted.\n"
    code, stdout, stderr = invoke(runner, "task", "prune", "--older-than", "2h30m", "--yes")
    assert (code, stdout) == (
        0,
        f"good-1\t{GOOD['name']}\tSUCCESS\tq\t{T}\t\nbad-1\t{BAD['name']}\tFAILURE\tq\t{LATER.isoformat()}\t{BAD['error']}\n",
    )
    assert stderr == "2 job(s) selected.\nDeleted 2 job(s).\n"
    assert invoke(runner, "task", "history") == (0, "", "")


def test_prune_needs_a_selection(runner: CliRunner, two_jobs: None) -> None:
    code, stdout, stderr = invoke(runner, "task", "prune", "--yes")
    assert (code, stdout) == (2, "")
    assert "Error: say which jobs to delete: --older-than, or a filter" in stderr
    assert len(json.loads(invoke(runner, "task", "history", "-o", "json")[1])) == 2


@pytest.mark.parametrize("value", ["30", "d", "1x", "-1d", "1d 2h"])
def test_prune_rejects_a_bad_duration(runner: CliRunner, app: Any, value: str) -> None:
    code, stdout, stderr = invoke(runner, "task", "prune", "--older-than", value, "--yes")
    assert (code, stdout) == (2, "")
    assert "is not a duration such as 30m, 1h, 2d or 1w" in stderr


def test_send_warns_on_stderr_when_the_history_cannot_be_written(env: dict[str, str]) -> None:
    from tests.conftest import run_appctl

    sent = run_appctl("task", "send", "divide", "1", "2", env=env)  # the database was never migrated
    task_id = sent.stdout.strip()
    assert (sent.returncode, len(task_id)) == (0, 36)
    assert f"Warning: the job history did not record the sending of {task_id} (the job goes on)" in sent.stderr


def test_history_scheduled_shows_the_due_time_relative_in_a_table(runner: CliRunner, app: Any) -> None:
    from project.jobs.send import send_job

    task_id = send_job("divide", [1, 2], countdown=3 * 3600 + 60)  # no worker: it waits
    code, stdout, _ = invoke(runner, "--no-color", "task", "history", "--scheduled", "-o", "table")
    assert code == 0 and "due" in stdout and "in 3h" in stdout and task_id[:8] in stdout
    code, stdout, _ = invoke(runner, "task", "history", "--scheduled", "-o", "json")
    [record] = json.loads(stdout)
    assert (code, record["id"], datetime.fromisoformat(record["eta"]).utcoffset()) == (0, task_id, timedelta(0))


def test_retry_prints_the_new_ids_plain_and_every_field_in_json(runner: CliRunner, two_jobs: None) -> None:
    code, stdout, stderr = invoke(runner, "task", "retry", "bad-1", "good-1")
    new = stdout.split()
    assert (code, stderr, len(new), stdout) == (0, "", 2, f"{new[0]}\n{new[1]}\n")
    code, stdout, _ = invoke(runner, "task", "retry", "bad-1", "-o", "json")
    [copy] = json.loads(stdout)
    assert (code, list(copy), copy["retry_of"], copy["name"], copy["queue"]) == (
        0,
        ["id", "retry_of", "name", "queue", "state", "eta", "expires"],
        "bad-1",
        BAD["name"],
        "q",
    )
    code, stdout, _ = invoke(runner, "task", "status", "bad-1", "-o", "json")
    assert json.loads(stdout)[0]["retried_by"] == copy["id"]  # the latest retry


def test_run_now_of_a_job_without_an_eta_is_exit_4(runner: CliRunner, app: Any) -> None:
    task_id = invoke(runner, "task", "send", "divide", "1", "2")[1].strip()  # no worker: it waits, with no eta
    code, stdout, stderr = invoke(runner, "task", "run-now", task_id)
    assert (code, stdout) == (4, "")
    assert stderr.startswith(f"Error: job {task_id} is not scheduled for later: it has no eta")


def test_a_bulk_action_in_a_table_acts_on_every_job_beyond_the_rows_shown(runner: CliRunner, app: Any) -> None:
    from project.extensions import db
    from project.jobs.history.models import jobs

    rows = [{"id": f"old-{n:04d}", "name": GOOD["name"], "state": "FAILURE", "sent_at": SENT} for n in range(1100)]
    with db.engine.begin() as conn:
        conn.execute(jobs.insert(), rows)
    code, stdout, stderr = invoke(runner, "--no-color", "task", "prune", "--state", "FAILURE", "--yes", "-o", "table")
    assert (code, stdout.count("old-")) == (0, 1000)  # a table shows the first 1000 rows
    assert stderr.startswith("1100 job(s) selected.\n") and stderr.endswith("Deleted 1100 job(s).\n")
    assert invoke(runner, "task", "history", "--limit", "0", "-q") == (0, "", "")


def test_revoke_by_selection_takes_only_unfinished_jobs(runner: CliRunner, two_jobs: None) -> None:
    assert invoke(runner, "task", "revoke", "--name", "divide", "--yes") == (
        0,
        "",
        "0 job(s) selected.\nRevoked 0 job(s).\n",
    )
    code, stdout, stderr = invoke(runner, "task", "revoke", "--state", "success", "--state", "FAILURE", "--yes")
    assert (code, stdout) == (65, "")
    assert stderr.startswith("Error: finished jobs cannot be revoked: choose among PENDING, UNKNOWN, STARTED, RETRY")
    code, stdout, _ = invoke(runner, "task", "history", "-o", "json")
    assert [job["state"] for job in json.loads(stdout)] == ["FAILURE", "SUCCESS"]


def test_revoke_by_selection_does_not_count_a_job_found_finished(runner: CliRunner, app: Any) -> None:
    """The history still says PENDING (its worker has not written yet), the result backend says SUCCESS."""
    task_id = invoke(runner, "task", "send", "divide", "1", "2", "--queue", "nobody-consumes")[1].strip()
    app.extensions["celery"].backend.store_result(task_id, 0.5, "SUCCESS")
    code, stdout, stderr = invoke(runner, "task", "revoke", "--queue", "nobody-consumes", "--yes", "-o", "json")
    assert (code, [job["outcome"] for job in json.loads(stdout)]) == (0, ["already finished: SUCCESS"])
    assert stderr == "1 job(s) selected.\nRevoked 0 job(s).\n"


def test_prune_older_than_also_forgets_workers_gone_that_long(runner: CliRunner, two_jobs: None) -> None:
    from project.extensions import db
    from project.jobs.history.models import heartbeats

    now = datetime.now(UTC)
    gone, alive = now - timedelta(days=2), now + timedelta(minutes=1)
    with db.engine.begin() as conn:
        conn.execute(
            heartbeats.insert(),
            [
                {"hostname": "gone@h", "last_seen": gone, "expires_at": gone},
                {"hostname": "alive@h", "last_seen": now, "expires_at": alive},
            ],
        )
    assert invoke(runner, "task", "prune", "--older-than", "1d", "--yes", "-q") == (
        0,
        "good-1\nbad-1\n",
        "2 job(s) selected.\nDeleted 2 job(s).\n",
    )
    with db.engine.connect() as conn:
        assert [row.hostname for row in conn.execute(heartbeats.select())] == ["alive@h"]


def test_status_with_the_result_backend_down_shows_the_history_with_a_warning(env: dict[str, str]) -> None:
    """As `task history` does: the history trails the backend but never contradicts it; an id the history
    lacks cannot be told, and stays exit 69."""
    from tests.conftest import run_appctl
    from tests.processes import refused_port

    assert run_appctl("db", "upgrade", env=env).returncode == 0
    task_id = run_appctl("task", "send", "divide", "1", "2", env=env).stdout.strip()
    down = {**env, "CELERY_RESULT_BACKEND": f"redis://127.0.0.1:{refused_port()}/0"}
    shown = run_appctl("task", "status", task_id, "-o", "json", env=down)
    assert (shown.returncode, json.loads(shown.stdout)[0]["state"]) == (0, "PENDING"), shown.stderr
    assert shown.stderr.startswith(f"Warning: job {task_id} is shown as the history has it: cannot reach the result")
    unknown = run_appctl("task", "status", "not-in-the-history", env=down)
    assert (unknown.returncode, unknown.stdout) == (69, "")
