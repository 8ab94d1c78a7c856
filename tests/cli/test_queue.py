"""``appctl queue list|purge`` through CliRunner on the embedded default: formats and refusals, data unchanged.

End to end with a real worker, on every broker: tests/cli/test_queue_end_to_end.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from cli import cli
from tests.processes import refused_port


def invoke(runner: CliRunner, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def waiting(app: Any, runner: CliRunner, env: dict[str, str]) -> list[str]:
    """Two jobs waiting in the app's queue (no worker runs)."""
    return [invoke(runner, "task", "send", "divide", str(n), "1")[1].strip() for n in range(2)]


def state(runner: CliRunner, queue: str, ids: list[str]) -> tuple[str, list[str]]:
    """The queue's plain line, without the age (it grows), and the jobs' states."""
    listed = invoke(runner, "queue", "list")[1]
    name, waiting, _, *rest = next(line for line in listed.splitlines() if line.startswith(queue + "\t")).split("\t")
    line = "\t".join([name, waiting, *rest])
    states = [invoke(runner, "task", "status", task_id)[1].split("\t")[2] for task_id in ids]
    return line, states


def test_list_in_each_format(runner: CliRunner, env: dict[str, str], waiting: list[str]) -> None:
    queue = env["APPCTL_QUEUE"]
    code, out, err = invoke(runner, "queue", "list", "-o", "csv")
    assert (code, err) == (0, "") and out.startswith("name,waiting,oldest_age,reserved,consumers\n")
    assert any(line.startswith(f"{queue},2,") and line.endswith(",0,0") for line in out.splitlines())
    assert invoke(runner, "queue", "list", "--ids") == (0, f"{queue}\n", "")
    line = invoke(runner, "queue", "list", "-o", "plain")[1].strip().split("\t")
    assert line[:2] == [queue, "2"] and line[3:] == ["0", "0"] and int(line[2]) >= 0


def test_an_empty_queue_lists_its_age_as_unknown(runner: CliRunner, app: Any, env: dict[str, str]) -> None:
    assert invoke(runner, "queue", "list") == (0, f"{env['APPCTL_QUEUE']}\t0\t-\t0\t0\n", "")


def test_purge_needs_yes_when_stdin_is_not_a_terminal(
    runner: CliRunner, env: dict[str, str], waiting: list[str]
) -> None:
    before = state(runner, env["APPCTL_QUEUE"], waiting)
    code, out, err = invoke(runner, "queue", "purge", env["APPCTL_QUEUE"])
    assert (code, out) == (2, "") and err.startswith("Error: refusing to go on without --yes")
    assert state(runner, env["APPCTL_QUEUE"], waiting) == before


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ["--name", "nosuchtask"],
            3,
            "Error: no task 'nosuchtask' (hint: `appctl task list` shows the registered tasks)\n",
        ),
        (["--name", ""], 3, "Error: no task ''"),
    ],
)
def test_purge_of_an_unknown_task_changes_nothing(
    runner: CliRunner, env: dict[str, str], waiting: list[str], args: list[str], code: int, message: str
) -> None:
    before = state(runner, env["APPCTL_QUEUE"], waiting)
    result = invoke(runner, "queue", "purge", env["APPCTL_QUEUE"], *args, "--yes")
    assert (result[0], result[1], result[2].startswith(message)) == (code, "", True), result
    assert state(runner, env["APPCTL_QUEUE"], waiting) == before


def test_purge_of_a_queue_name_no_worker_could_use_is_exit_65(runner: CliRunner, app: Any) -> None:
    code, out, err = invoke(runner, "queue", "purge", "a b", "--yes")
    assert (code, out) == (65, "") and err.startswith("Error: queue name 'a b' must be non-empty")


def test_purge_of_the_apps_empty_queue_purges_nothing(runner: CliRunner, app: Any, env: dict[str, str]) -> None:
    queue = env["APPCTL_QUEUE"]
    assert invoke(runner, "queue", "purge", queue, "--yes") == (0, "", f"Purged 0 job(s) from queue {queue}.\n")


def test_purge_of_a_queue_nobody_uses_is_exit_3(runner: CliRunner, app: Any) -> None:
    assert invoke(runner, "queue", "purge", "reprots", "--yes") == (
        3,
        "",
        "Error: no queue 'reprots': the app does not use it and no job waits there"
        " (hint: `appctl queue list` shows the queues)\n",
    )


def test_purge_as_json_then_the_jobs_read_revoked(runner: CliRunner, env: dict[str, str], waiting: list[str]) -> None:
    code, out, err = invoke(runner, "queue", "purge", env["APPCTL_QUEUE"], "--yes", "-o", "jsonl")
    name = "project.users.tasks.divide"
    assert out.splitlines() == [f'{{"id": "{i}", "name": "{name}", "outcome": "purged"}}' for i in waiting]
    assert (code, err) == (0, f"Purged 2 job(s) from queue {env['APPCTL_QUEUE']}.\n")
    assert state(runner, env["APPCTL_QUEUE"], waiting) == (f"{env['APPCTL_QUEUE']}\t0\t0\t0", ["REVOKED"] * 2)
    code, out, err = invoke(runner, "result", "wait", waiting[0], "--timeout", "3600")
    assert (code, err) == (1, f"Error: task {waiting[0]} revoked: TaskRevokedError: purged\n")


def test_a_result_backend_down_leaves_the_jobs_waiting_and_pending(
    runner: CliRunner, env: dict[str, str], waiting: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chunk held when marking fails goes back to the queue; the history is unchanged."""
    before = state(runner, env["APPCTL_QUEUE"], waiting)
    monkeypatch.setenv("CELERY_RESULT_BACKEND", f"redis://127.0.0.1:{refused_port()}/0")
    code, out, err = invoke(runner, "queue", "purge", env["APPCTL_QUEUE"], "--yes")
    assert (code, out) == (69, "") and err.startswith("Error: cannot reach the result backend at redis://127.0.0.1:")
    monkeypatch.delenv("CELERY_RESULT_BACKEND")
    assert state(runner, env["APPCTL_QUEUE"], waiting) == before


@pytest.mark.parametrize("args", [["list"], ["purge", "celery", "--yes"]], ids=["list", "purge"])
def test_a_broker_down_is_exit_69(
    runner: CliRunner, app: Any, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    monkeypatch.setenv("CELERY_BROKER_URL", f"redis://127.0.0.1:{refused_port()}/0")
    code, out, err = invoke(runner, "queue", *args)
    assert (code, out) == (69, "") and err.startswith("Error: cannot reach the broker at redis://127.0.0.1:"), err


def test_a_table_shows_the_first_rows_and_the_purge_goes_on_to_the_end(
    runner: CliRunner, env: dict[str, str], waiting: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import cli.render

    monkeypatch.setattr(cli.render, "TABLE_LIMIT", 1)
    code, out, err = invoke(runner, "queue", "purge", env["APPCTL_QUEUE"], "--yes", "-o", "table")
    assert (code, waiting[0] in out, waiting[1] in out) == (0, True, False)
    assert err.endswith(f"Purged 2 job(s) from queue {env['APPCTL_QUEUE']}.\n") and "Only the first 1 rows" in err
    assert state(runner, env["APPCTL_QUEUE"], waiting) == (f"{env['APPCTL_QUEUE']}\t0\t0\t0", ["REVOKED"] * 2)


def test_a_worker_on_another_broker_consumes_none_of_this_brokers_queues(
    runner: CliRunner, app: Any, env: dict[str, str]
) -> None:
    """Its heartbeat says which broker it consumes; only those on the embedded broker count as consumers."""
    from datetime import timedelta

    from project.extensions import db
    from project.jobs.heartbeat import broker_identity
    from project.jobs.history.models import heartbeats
    from project.jobs.history.values import utcnow
    from project.jobs.registry import current_celery

    queue, now = env["APPCTL_QUEUE"], utcnow()
    here = broker_identity(current_celery())
    rows = [
        {
            "hostname": name,
            "broker": broker,
            "queues": [queue],
            "last_seen": now,
            "expires_at": now + timedelta(hours=1),
        }
        for name, broker in (("elsewhere@h", "redis://elsewhere:6379/0"), ("here@h", here), ("unsaid@h", None))
    ]
    with db.engine.begin() as conn:
        conn.execute(heartbeats.insert(), rows)
    assert invoke(runner, "queue", "list") == (0, f"{queue}\t0\t-\t0\t2\n", "")
