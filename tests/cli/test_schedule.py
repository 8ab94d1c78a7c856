"""``appctl schedule …`` through CliRunner: add, list, show, update, enable, disable, delete, trigger; bad input
leaves the schedules unchanged; a triggered run is a job of the history that names its schedule."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli import cli
from tests.conftest import APPCTL, run_appctl
from tests.jobs.waiting import job_in_state, wait_for


def invoke(runner: CliRunner, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def schedules(runner: CliRunner) -> list[dict[str, Any]]:
    code, stdout, stderr = invoke(runner, "schedule", "list", "-o", "json")
    assert code == 0, stderr
    return list(json.loads(stdout))


def test_add_shows_the_schedule_with_its_spec_in_words_and_next_run(runner: CliRunner, app: Any) -> None:
    code, stdout, stderr = invoke(
        runner, "schedule", "add", "nightly", "divide", "6", "-k", "y=3", "--cron", "0 3 * * *", "-o", "json"
    )
    assert (code, stderr) == (0, "")
    added = json.loads(stdout)
    assert {key: added[key] for key in ("name", "task", "args", "kwargs", "spec", "timezone", "enabled")} == {
        "name": "nightly",
        "task": "project.users.tasks.divide",
        "args": [6],
        "kwargs": {"y": 3},
        "spec": "0 3 * * *",
        "timezone": "UTC",
        "enabled": True,
    }
    assert added["description"] == "At 03:00, every day"
    assert added["next_run_at"].endswith("T03:00:00+00:00")
    assert (added["last_run_at"], added["last_job_id"], added["last_state"]) == (None, None, None)


def test_list_plain_and_show(runner: CliRunner, app: Any) -> None:
    assert invoke(runner, "schedule", "add", "often", "divide", "1", "2", "--every", "15m", "--queue", "q1")[0] == 0
    assert invoke(runner, "schedule", "add", "later", "divide", "1", "2", "--every", "1h", "--disabled")[0] == 0
    code, stdout, _ = invoke(runner, "schedule", "list")
    lines = [line.split("\t") for line in stdout.splitlines()]
    assert code == 0
    assert [line[:9] for line in lines] == [
        ["later", "project.users.tasks.divide", "[1, 2]", "{}", "every 1h", "UTC", "Every 1 hour", "", "false"],
        ["often", "project.users.tasks.divide", "[1, 2]", "{}", "every 15m", "UTC", "Every 15 minutes", "q1", "true"],
    ]
    assert lines[0][9] == ""  # disabled: no next run
    code, stdout, _ = invoke(runner, "schedule", "show", "often", "-o", "json")
    assert (code, json.loads(stdout)["spec"]) == (0, "every 15m")


def test_a_table_shows_the_next_run_relative_to_now(runner: CliRunner, app: Any) -> None:
    assert invoke(runner, "schedule", "add", "quarterly", "divide", "1", "2", "--every", "15m")[0] == 0
    result = runner.invoke(cli, ["schedule", "list", "-o", "table"], env={"COLUMNS": "300"})
    assert result.exit_code == 0
    row = next(line for line in result.stdout.splitlines() if "quarterly" in line)
    assert "Every 15 minutes" in row
    assert "in 14m" in row or "in 15m" in row


def test_update_enable_disable_delete(runner: CliRunner, app: Any) -> None:
    assert invoke(runner, "schedule", "add", "s1", "divide", "1", "2", "--every", "1m")[0] == 0
    code, stdout, _ = invoke(
        runner, "schedule", "update", "s1", "8", "4", "--cron", "30 2 * * *", "--timezone", "Europe/Paris", "-o", "json"
    )
    updated = json.loads(stdout)
    assert (code, updated["args"], updated["spec"], updated["timezone"]) == (0, [8, 4], "30 2 * * *", "Europe/Paris")
    assert updated["description"] == "At 02:30, every day"
    assert json.loads(invoke(runner, "schedule", "disable", "s1", "-o", "json")[1])["enabled"] is False
    enabled = json.loads(invoke(runner, "schedule", "enable", "s1", "-o", "json")[1])
    assert (enabled["enabled"], enabled["next_run_at"] is not None) == (True, True)
    assert invoke(runner, "schedule", "delete", "s1")[0] == 2  # stdin is not a terminal: --yes needed
    code, stdout, stderr = invoke(runner, "schedule", "delete", "s1", "--yes", "-o", "json")
    assert (code, json.loads(stdout)["name"], stderr) == (0, "s1", "Deleted the schedule 's1'.\n")
    assert schedules(runner) == []


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["add", "x", "divide", "1", "--every", "1m"], 65, "arguments do not fit divide(x: float, y: float)"),
        (["add", "x", "divide", "1", "2", "-k", "z=1", "--every", "1m"], 65, "arguments do not fit"),
        (["add", "x", "nosuch", "--every", "1s"], 3, "no task 'nosuch' (hint: `appctl task list`"),
        (["add", "x", "divide", "1", "2"], 2, "give --cron or --every"),
        (["add", "x", "divide", "1", "2", "--every", "1s", "--cron", "* * * * *"], 2, "not both"),
        (["update", "taken", "--every", "1s", "--cron", "* * * * *"], 2, "not both"),
        (["add", "x", "divide", "1", "2", "--cron", "0 3 * *"], 65, "is not a cron expression of five fields"),
        (["add", "x", "divide", "1", "2", "--cron", "0 3 * * *", "--timezone", "Mars/Base"], 65, "IANA time zone"),
        *(
            (["add", "x", "divide", "1", "2", "--cron", "0 3 * * *", "--timezone", name], 65, "IANA time zone")
            for name in ("localtime", "posixrules", "Factory", "right/UTC", "posix/Europe/Paris", "/etc/localtime")
        ),
        (["add", "x", "divide", "1", "2", "--cron", "0 0 30 2 *"], 65, "'0 0 30 2 *' never runs"),  # no 30 February
        (["add", "x", "divide", "1", "2", "--cron", "0 0 30,31 2 *"], 65, "never runs"),
        (["update", "taken", "--cron", "0 0 31 4 *"], 65, "'0 0 31 4 *' never runs"),
        (["add", "x", "divide", "1", "2", "--every", "0.5s"], 65, "at least 1 second"),
        (["add", "x", "divide", "1", "2", "--every", "soon"], 2, "is not a duration"),
        (["add", "has space", "divide", "1", "2", "--every", "1s"], 65, "without spaces"),
        (["add", "a\u115fb", "divide", "1", "2", "--every", "1s"], 65, "contains a character that draws nothing"),
        (["add", "\u0301x", "divide", "1", "2", "--every", "1s"], 65, "starts with a combining mark"),
        (["add", "taken", "divide", "1", "2", "--every", "1s"], 4, "a schedule named 'taken' exists"),
        (["show", "nope"], 3, "no schedule 'nope' (hint: `appctl schedule list` shows the schedules)"),
        (["update", "nope", "--every", "1s"], 3, "no schedule 'nope'"),
        (["update", "taken"], 2, "nothing to change"),
        (["update", "taken", "1"], 65, "arguments do not fit"),
        (["enable", "nope"], 3, "no schedule 'nope'"),
        (["trigger", "nope"], 3, "no schedule 'nope'"),
        (["delete", "nope", "--yes"], 3, "no schedule 'nope'"),
    ],
)
def test_bad_input_is_one_error_line_and_changes_nothing(
    runner: CliRunner, app: Any, args: list[str], code: int, message: str
) -> None:
    assert invoke(runner, "schedule", "add", "taken", "divide", "1", "2", "--every", "1m")[0] == 0
    before = schedules(runner)
    result = invoke(runner, "schedule", *args)
    assert (result[0], result[1]) == (code, "")
    assert result[2].startswith("Error: ") and message in result[2] and result[2].count("\n") == 1, result[2]
    assert schedules(runner) == before


def test_trigger_sends_a_run_now_that_the_history_and_the_list_name(runner: CliRunner, app: Any, worker: Any) -> None:
    assert invoke(runner, "schedule", "add", "manual", "divide", "9", "3", "--every", "1d")[0] == 0
    code, stdout, stderr = invoke(runner, "schedule", "trigger", "manual", "-o", "json")
    assert (code, stderr) == (0, "")
    job_id = json.loads(stdout)["id"]
    assert json.loads(stdout)["schedule"] == "manual"
    done = wait_for(job_in_state(job_id, "SUCCESS"), timeout=60, what="the triggered run")
    assert (done["result"], done["schedule"]) == (3.0, "manual")
    code, stdout, _ = invoke(runner, "task", "history", "--schedule", "manual", "-o", "jsonl")
    assert [json.loads(line)["id"] for line in stdout.splitlines()] == [job_id]
    assert invoke(runner, "task", "history", "--schedule", "other", "-o", "jsonl")[1] == ""
    listed = schedules(runner)[0]
    assert (listed["last_job_id"], listed["last_state"]) == (job_id, "SUCCESS")


def test_beat_on_a_database_not_migrated_is_a_configuration_error(env: dict[str, str]) -> None:
    result = run_appctl("beat", env=env)
    assert (result.returncode, result.stdout) == (78, "")
    assert result.stderr == (
        "Error: the database is 7 migration(s) behind: the beat needs its schedule tables"
        " (hint: run `appctl db upgrade`)\n"
    )


def test_a_schedule_name_is_one_name_however_its_accents_are_typed(runner: CliRunner, app: Any) -> None:
    """``fóo`` typed with one character or with ``o`` plus a combining accent: one schedule, stored in NFC."""
    composed, decomposed = "f\u00f3o", "fo\u0301o"
    assert invoke(runner, "schedule", "add", decomposed, "divide", "1", "2", "--every", "1h")[0] == 0
    taken = invoke(runner, "schedule", "add", composed, "divide", "1", "2", "--every", "1h")
    assert (taken[0], taken[2]) == (
        4,
        f"Error: a schedule named {composed!r} exists (hint: update it, or delete it first)\n",
    )
    assert [row["name"] for row in schedules(runner)] == [composed]
    for command in (["show", composed], ["update", decomposed, "--every", "2h"], ["disable", decomposed]):
        assert invoke(runner, "schedule", *command)[0] == 0, command
    assert invoke(runner, "task", "history", "--schedule", decomposed)[0] == 0
    assert invoke(runner, "schedule", "delete", decomposed, "--yes")[0] == 0
    assert schedules(runner) == []


def test_the_beat_writes_its_banner_and_log_to_stderr_and_nothing_to_stdout(
    env: dict[str, str], tmp_path: Path
) -> None:
    """stdout carries data only: Celery's "celery beat v… is starting." and banner go to stderr."""
    import signal
    import subprocess
    import time

    assert run_appctl("db", "upgrade", env=env).returncode == 0
    out, err = tmp_path / "out", tmp_path / "err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        beat = subprocess.Popen([APPCTL, "beat"], env=env, stdout=stdout, stderr=stderr)
    try:
        deadline = time.monotonic() + 60
        while "beat: Starting..." not in err.read_text() and beat.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        beat.send_signal(signal.SIGTERM)
        assert beat.wait(timeout=60) == 0, err.read_text()
    finally:
        beat.kill()
    assert out.read_bytes() == b""
    assert "celery beat v" in err.read_text() and "beat: Starting..." in err.read_text()


def test_a_schedule_table_on_an_80_column_terminal_shows_every_column_and_whole_names(env: dict[str, str]) -> None:
    from tests.cli.terminal import run_on_terminal

    assert run_appctl("db", "upgrade", env=env).returncode == 0
    name = "nightly-report-for-finance"
    assert run_appctl("schedule", "add", name, "divide", "10", "2", "--cron", "0 3 * * *", env=env).returncode == 0
    shown = run_on_terminal("schedule", "list", env=env, columns=80)
    lines = [line for line in shown.screen.splitlines() if line.strip()]
    assert shown.returncode == 0 and name in shown.screen, shown.screen
    header = lines[1]
    for column in ("name", "task", "args", "spec", "next_run_at", "last_state", "enabled"):
        assert column[:2] in header, (column, header)  # every column keeps a width, if only for "…"
