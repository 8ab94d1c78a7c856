"""Every exit code in the README's table, from the installed ``appctl`` as a subprocess.

Each case checks the code, the exact stdout, one ``Error:`` line on stderr (no traceback) and, for bad
input, that the database did not change.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_appctl
from tests.processes import refused_port

LONG_NAME = "a" * 200


def stored_users(env: dict[str, str]) -> list[tuple[Any, ...]]:
    with sqlite3.connect(Path(env["APPCTL_DATA_DIR"]) / "app.sqlite") as connection:
        return connection.execute("SELECT id, username, email FROM users ORDER BY id").fetchall()


def assert_one_error_line(stderr: str, *parts: str) -> None:
    assert stderr.startswith("Error: ") and stderr.endswith("\n"), stderr
    assert len(stderr.splitlines()) == 1, stderr
    assert "Traceback" not in stderr
    for part in parts:
        assert part in stderr


@pytest.fixture
def alice(app: Any, env: dict[str, str]) -> dict[str, str]:
    """The environment of a migrated database holding alice."""
    from project.users.service import create_user

    create_user("alice", "alice@example.com")
    return env


def test_0_success(worker: Any, env: dict[str, str]) -> None:
    done = run_appctl("task", "send", "divide", "1", "2", "--wait", env=env)
    assert (done.returncode, done.stdout) == (0, "0.5\n")
    assert done.stderr.startswith("Sent ") and "Error" not in done.stderr


def test_0_send_prints_only_the_id(app: Any, env: dict[str, str]) -> None:
    done = run_appctl("task", "send", "divide", "1", "2", env=env)
    assert (done.returncode, len(done.stdout), done.stderr) == (0, 37, "")


def test_1_failed_job(worker: Any, env: dict[str, str]) -> None:
    done = run_appctl("task", "send", "divide", "1", "0", "--wait", env=env)
    assert (done.returncode, done.stdout) == (1, "")
    sent, error = done.stderr.splitlines(keepends=True)
    assert sent.startswith("Sent ")
    assert_one_error_line(error, "failure: ZeroDivisionError: division by zero")


def test_2_usage(env: dict[str, str]) -> None:
    done = run_appctl("user", "list", "--limit", "many", env=env)
    assert (done.returncode, done.stdout) == (2, "")
    assert "Error: Invalid value for '--limit'" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [(["user", "show", "nobody"], "no user 'nobody'"), (["task", "send", "nope", "1", "2"], "no task 'nope'")],
)
def test_3_not_found(alice: dict[str, str], args: list[str], message: str) -> None:
    done = run_appctl(*args, env=alice)
    assert (done.returncode, done.stdout) == (3, "")
    assert_one_error_line(done.stderr, message)


@pytest.mark.parametrize(
    ("username", "email", "message"),
    [
        ("alice", "new@example.com", "username 'alice' is already taken"),
        ("new", "alice@example.com", "email 'alice@example.com' is already taken"),
    ],
)
def test_4_conflict(alice: dict[str, str], username: str, email: str, message: str) -> None:
    done = run_appctl("user", "add", username, email, env=alice)
    assert (done.returncode, done.stdout) == (4, "")
    assert_one_error_line(done.stderr, message)
    assert stored_users(alice) == [(1, "alice", "alice@example.com")]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["user", "add", "bob", "bob-at-example.com"], "email 'bob-at-example.com' is not valid"),
        (["user", "add", LONG_NAME, "long@example.com"], "username is 200 characters long; the limit is 128"),
        (["task", "send", "divide", "1"], "arguments do not fit divide"),
    ],
    ids=["bad-email", "long-username", "missing-argument"],
)
def test_65_invalid_input(alice: dict[str, str], args: list[str], message: str) -> None:
    done = run_appctl(*args, env=alice)
    assert (done.returncode, done.stdout) == (65, "")
    assert_one_error_line(done.stderr, message)
    assert stored_users(alice) == [(1, "alice", "alice@example.com")]


@pytest.mark.parametrize(
    ("variable", "url", "args", "service"),
    [
        ("DATABASE_URL", "postgresql://appctl:s3cret@127.0.0.1:{port}/db", ["user", "list"], "database"),
        ("CELERY_BROKER_URL", "redis://:s3cret@127.0.0.1:{port}/0", ["task", "send", "divide", "1", "2"], "broker"),
        ("CELERY_RESULT_BACKEND", "redis://:s3cret@127.0.0.1:{port}/0", ["result", "wait", "x"], "result backend"),
    ],
    ids=["database", "broker", "result-backend"],
)
def test_69_service_unreachable(
    app: Any, env: dict[str, str], variable: str, url: str, args: list[str], service: str
) -> None:
    done = run_appctl(*args, env={**env, variable: url.format(port=refused_port())})
    assert (done.returncode, done.stdout) == (69, "")
    assert_one_error_line(done.stderr, f"cannot reach the {service} at ", ":***@127.0.0.1:")
    assert "s3cret" not in done.stderr


def test_78_unknown_config(env: dict[str, str]) -> None:
    done = run_appctl("user", "list", env={**env, "FLASK_CONFIG": "nope"})
    assert (done.returncode, done.stdout) == (78, "")
    assert_one_error_line(done.stderr, "unknown config 'nope'", "development, production, testing")


def test_3_unknown_task_id(app: Any, env: dict[str, str]) -> None:
    done = run_appctl("result", "wait", "made-up-id", "--timeout", "3600", env=env)  # at once: never 124
    assert (done.returncode, done.stdout) == (3, "")
    assert_one_error_line(done.stderr, "no job 'made-up-id' is known to the job history or the result backend")


def test_124_timed_out(app: Any, env: dict[str, str]) -> None:
    from project.jobs.send import send_job

    idle = send_job("divide", [1, 2], queue="no-worker-here")
    done = run_appctl("result", "wait", idle, "--timeout", "2", env=env)
    assert (done.returncode, done.stdout, done.stderr) == (124, "", f"Error: timed out after 2s waiting for {idle}\n")


def test_every_remedy_a_service_names_has_its_command() -> None:
    from cli.exit_codes import REMEDY_HINTS
    from project.errors import REMEDIES

    assert set(REMEDY_HINTS) == set(REMEDIES)
    assert all("`appctl " in hint for hint in REMEDY_HINTS.values())


def test_an_error_or_warning_line_escapes_what_a_terminal_would_act_on() -> None:
    """A job's error text is anyone's: its newlines, escapes and bidi overrides are written escaped, on one line."""
    import io
    import logging

    from cli.exit_codes import as_click_error
    from cli.stderr_log import WarningsToStderr
    from project.errors import JobFailed

    hostile = "line1\nline2\x1b[31mRED\x1b]0;pwned\x07\u202eevil\u00a0\r"
    shown = io.StringIO()
    as_click_error(JobFailed(f"task x failure: ValueError: {hostile}"), debug=False).show(file=shown)
    line = shown.getvalue()
    assert line == (
        "Error: task x failure: ValueError: line1\\nline2\\x1b[31mRED\\x1b]0;pwned\\x07\\u202eevil\\xa0\\r\n"
    )
    record = logging.LogRecord("appctl", logging.WARNING, __file__, 1, "job %s: %s", ("x", hostile), None)
    escaped = "line1\\nline2\\x1b[31mRED\\x1b]0;pwned\\x07\\u202eevil\\xa0\\r"
    assert WarningsToStderr().format(record) == f"Warning: job x: {escaped}"


def test_psycopgs_note_on_a_pipeline_it_gave_up_is_not_printed(caplog: pytest.LogCaptureFixture) -> None:
    """It comes with the error appctl reports on its one line (concurrent imports on PostgreSQL)."""
    import logging

    from cli.stderr_log import log_warnings_to_stderr

    log_warnings_to_stderr()
    logging.getLogger("psycopg").warning("error ignored terminating %r: %s", "<psycopg.Pipeline>", "pipeline aborted")
    logging.getLogger("psycopg").warning("something else")
    assert [record.getMessage() for record in caplog.records if record.name == "psycopg"] == ["something else"]


def test_what_draws_nothing_is_escaped_in_an_error_and_in_a_debug_traceback(env: dict[str, str]) -> None:
    """A Hangul filler echoed in a refusal, and a traceback's lines under --debug, are as printable as the
    error line itself; bytes that are not UTF-8 are shown as given (``\\xff``)."""
    refused = run_appctl("schedule", "add", "a\u115fb", "divide", "1", "2", "--every", "1h", env=env)
    assert refused.stderr == "Error: schedule name 'a\\u115fb' contains a character that draws nothing\n"
    hostile = "x\x1b]0;pwn\x07\u202eY"
    debug = run_appctl("--debug", "user", "list", env={**env, "APPCTL_DATA_DIR": f"{env['APPCTL_DATA_DIR']}/{hostile}"})
    assert debug.returncode == 78 or debug.returncode == 69, debug.stderr
    assert all(char.isprintable() or char == "\n" for char in debug.stderr), repr(debug.stderr)
    assert "\\x1b]0;pwn\\x07\\u202eY" in debug.stderr
    from tests.cli.test_bad_input import BYTE

    bad = run_appctl("task", "send", "divide", "\x1b" * 100 + BYTE, "1", env=env)
    assert bad.returncode == 65 and bad.stderr.endswith("\u2026' is not UTF-8 text\n"), bad.stderr
