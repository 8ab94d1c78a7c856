"""Output formats: tables only on a terminal, plain text when piped, colour rules, the exact shapes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli import cli
from cli.render import render_record, render_records
from tests.cli.terminal import run_on_terminal, screen_lines
from tests.conftest import run_appctl

RECORDS = [
    {"id": 1, "name": "tab\there", "value": None, "extra": "ignored"},
    {"id": 2, "name": "plain", "value": {"a": [1, "x"]}},
]


@pytest.fixture
def one_user(app: Any, env: dict[str, str]) -> dict[str, str]:
    """The environment of a database holding alice."""
    from project.users.service import create_user

    create_user("alice", "alice@example.com")
    return env


def printed(capsys: pytest.CaptureFixture[str], fmt: str, records: list[dict[str, Any]] = RECORDS) -> str:
    render_records(iter(records), ("id", "name", "value"), fmt)
    return capsys.readouterr().out


def test_plain_is_tab_separated_with_json_for_awkward_values(capsys: pytest.CaptureFixture[str]) -> None:
    assert printed(capsys, "plain") == '1\t"tab\\there"\t\n2\tplain\t{"a": [1, "x"]}\n'


@pytest.mark.parametrize("fmt", ["plain", "table"])
def test_characters_a_terminal_acts_on_are_escaped_in_plain_and_tables(
    capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    hostile = "\x1b]0;pwned\x07\r\u200bx\u202eevil\u00a0\U000e0001"
    render_records(iter([{"id": 1, "name": hostile, "value": [hostile]}]), ("id", "name", "value"), fmt)
    out = capsys.readouterr().out
    assert all(char.isprintable() or char in "\t\n" for char in out), repr(out)  # tabs: plain's separators
    escaped = r'"\u001b]0;pwned\u0007\r\u200bx\u202eevil\u00a0\udb40\udc01"'
    assert escaped in out and f"[{escaped}]" in out
    if fmt == "plain":
        assert [json.loads(field) for field in out.rstrip("\n").split("\t")[1:]] == [hostile, [hostile]]


def test_json_is_one_array_of_objects_with_the_columns(capsys: pytest.CaptureFixture[str]) -> None:
    assert json.loads(printed(capsys, "json")) == [
        {"id": 1, "name": "tab\there", "value": None},
        {"id": 2, "name": "plain", "value": {"a": [1, "x"]}},
    ]
    assert printed(capsys, "json", []) == "[\n]\n"


def test_jsonl_is_one_object_a_line(capsys: pytest.CaptureFixture[str]) -> None:
    lines = printed(capsys, "jsonl").splitlines()
    assert [json.loads(line)["id"] for line in lines] == [1, 2]


def test_csv_has_a_header_and_json_for_nested_values(capsys: pytest.CaptureFixture[str]) -> None:
    assert printed(capsys, "csv") == 'id,name,value\n1,tab\there,\n2,plain,"{""a"": [1, ""x""]}"\n'


def test_record_as_json_is_an_object(capsys: pytest.CaptureFixture[str]) -> None:
    render_record({"id": 7, "other": 1}, ("id",), "json")
    assert capsys.readouterr().out == '{"id": 7}\n'


def test_piped_output_is_plain_without_escape_codes(one_user: dict[str, str]) -> None:
    done = run_appctl("user", "list", env={**one_user, "TERM": "xterm-256color"})
    assert (done.returncode, done.stdout, done.stderr) == (0, "1\talice\talice@example.com\ttrue\n", "")


@pytest.mark.parametrize("columns", [None, "40"])
def test_a_table_to_a_pipe_is_printed_whole(capsys: pytest.CaptureFixture[str], monkeypatch: Any, columns: str) -> None:
    """No terminal, no width to fit: 80 columns (or COLUMNS) would cut the name and drop a column past the ids."""
    if columns:
        monkeypatch.setenv("COLUMNS", columns)
    record = {"id": "a" * 36, "retry_of": "b" * 36, "name": "project.users.tasks.divide", "queue": "celery"}
    render_records(iter([record]), tuple(record), "table")
    row = capsys.readouterr().out.splitlines()[3]
    assert row == "│ " + " │ ".join(record.values()) + " │"


def test_table_on_a_terminal(one_user: dict[str, str]) -> None:
    done = run_on_terminal("user", "list", env=one_user)
    assert done.returncode == 0
    assert "┃ id ┃ username ┃ email" in strip_escapes(done.screen)
    assert "│ 1  │ alice    │ alice@example.com │" in done.screen
    assert "\x1b[" in done.screen  # bold header
    assert done.stderr == ""


@pytest.mark.parametrize(("args", "extra_env"), [(["--no-color"], {}), ([], {"NO_COLOR": "1"})])
def test_no_color_on_a_terminal_writes_no_escape_codes(
    one_user: dict[str, str], args: list[str], extra_env: dict[str, str]
) -> None:
    done = run_on_terminal(*args, "user", "show", "alice", env={**one_user, **extra_env})
    assert done.returncode == 0
    assert "│ username │ alice             │" in done.screen
    assert "\x1b[" not in done.screen


def test_a_format_asked_for_wins_on_a_terminal(one_user: dict[str, str]) -> None:
    done = run_on_terminal("user", "list", "-o", "jsonl", env=one_user)
    assert done.screen == '{"id": 1, "username": "alice", "email": "alice@example.com", "active": true}\n'


def test_every_data_command_takes_output(runner: CliRunner) -> None:
    for path in (["user", "add"], ["user", "list"], ["user", "show"], ["user", "delete"], ["db", "status"]):
        assert "-o, --output [table|json|jsonl|csv|plain]" in runner.invoke(cli, [*path, "--help"]).stdout
    for path in (["task", "list"], ["task", "send"], ["result", "wait"]):
        assert "-o, --output [table|json|jsonl|csv|plain]" in runner.invoke(cli, [*path, "--help"]).stdout


def strip_escapes(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


# The terminal view: whole ids, states in colour, relative times, bare ids


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0, "now"),
        (0.9, "now"),
        (-5, "5s ago"),
        (59, "in 59s"),
        (-150, "2m ago"),
        (3 * 3600 + 59, "in 3h"),
        (-2 * 86400, "2d ago"),
        (-86400 * 400, "1y ago"),
    ],
)
def test_times_in_tables_are_relative_in_whole_units(seconds: float, shown: str) -> None:
    from datetime import UTC, datetime, timedelta

    from cli.render import relative_time

    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    assert relative_time(now + timedelta(seconds=seconds), now) == shown


def test_every_job_state_has_a_colour() -> None:
    from cli.render import STATE_STYLES
    from project.jobs.history.values import STATES

    assert set(STATE_STYLES) == set(STATES)


@pytest.fixture
def three_jobs(app: Any, env: dict[str, str]) -> list[str]:
    """Three jobs sent (no worker: they stay PENDING) to a migrated embedded database."""
    from project.jobs.send import send_job

    return [send_job("divide", [1, n], {}) for n in (1, 2, 3)]


def test_an_80_column_terminal_shows_whole_ids_relative_times_and_coloured_states(
    three_jobs: list[str], env: dict[str, str]
) -> None:
    done = run_on_terminal("task", "history", env=env, columns=80)
    assert done.returncode == 0
    lines = done.screen.splitlines()
    assert max(len(strip_escapes(line)) for line in lines) <= 80
    for task_id in three_jobs:
        assert any(f"│ {task_id} │" in line for line in lines), done.screen
    assert done.screen.count("\x1b[34mPENDING") == 3  # blue
    assert re.search(r"│ (now|\d+s ago) +│", strip_escapes(done.screen))
    piped = run_appctl("task", "history", "-o", "jsonl", env=env)
    assert all(json.loads(line)["sent_at"].endswith("+00:00") for line in piped.stdout.splitlines())


@pytest.mark.parametrize(("args", "extra_env"), [(["--no-color"], {}), ([], {"NO_COLOR": "1"})])
def test_no_colour_for_states_with_no_color(
    three_jobs: list[str], env: dict[str, str], args: list[str], extra_env: dict[str, str]
) -> None:
    done = run_on_terminal(*args, "task", "history", env={**env, **extra_env})
    assert (done.returncode, done.screen.count("PENDING")) == (0, 3)
    assert "\x1b[" not in done.screen


def test_on_a_terminal_task_send_prints_just_the_id(app: Any, env: dict[str, str]) -> None:
    sent = run_on_terminal("task", "send", "divide", "1", "2", env=env)
    assert sent.returncode == 0
    assert re.fullmatch(r"[0-9a-f-]{36}\n", sent.screen), sent.screen
    table = run_on_terminal("task", "send", "divide", "1", "2", "-o", "table", env=env)
    assert "┃ field ┃ value" in strip_escapes(table.screen)  # a table still, when asked for


def test_from_file_on_a_terminal_prints_each_id_on_a_line_of_its_own(
    app: Any, env: dict[str, str], tmp_path: Path
) -> None:
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text("".join(f"[{n}, 2]\n" for n in range(5)))
    with jobs.open("rb") as stdin:
        done = run_on_terminal(
            "task", "send", "divide", "--from-file", "-", env=env, stderr_too=True, stdin=stdin.fileno()
        )
    assert done.returncode == 0
    assert "Sending divide" in done.screen  # the bar was drawn
    shown = [line for line in screen_lines(done.screen) if line]
    assert len(shown) == 5 and all(re.fullmatch(r"[0-9a-f-]{36}", line) for line in shown), shown
