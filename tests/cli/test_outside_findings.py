"""Promises an outside tester found broken after the hardening round, each held by a test here."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from cli.exit_codes import cut_long_quotes
from project.bounds import Bounds, broker_transport_options
from tests.cli.terminal import OnTerminal, run_on_terminal
from tests.conftest import HANG, run_appctl


def migrated(env: dict[str, str]) -> dict[str, str]:
    assert run_appctl("db", "upgrade", env=env).returncode == 0
    return env


def test_a_refused_amqp_login_is_exit_69(env: dict[str, str], amqp_url: str) -> None:
    """RabbitMQ refusing the login is the broker being unavailable (69), not a bug (70)."""
    parts = urlsplit(amqp_url)
    wrong = urlunsplit(parts._replace(netloc=f"guest:not-the-password@{parts.hostname}:{parts.port or 5672}"))
    for args in (("task", "send", "divide", "1", "2"), ("--debug", "task", "send", "divide", "1", "2")):
        done = run_appctl(*args, env={**env, "CELERY_BROKER_URL": wrong})
        assert (done.returncode, done.stdout) == (69, ""), done.stderr
        last = done.stderr.splitlines()[-1]
        assert last.startswith("Error: cannot reach the broker at amqp://guest:***@") and "ACCESS_REFUSED" in last
        assert "not-the-password" not in done.stderr and "--debug" not in last


def test_a_malformed_wait_timeout_is_refused_by_every_command(env: dict[str, str]) -> None:
    """APPCTL_WAIT_TIMEOUT is checked when the app is built, not only by the commands that wait."""
    for args in (("user", "list"), ("status",), ("task", "list")):
        done = run_appctl(*args, env={**env, "APPCTL_WAIT_TIMEOUT": "abc"})
        assert (done.returncode, done.stdout) == (78, ""), done.stderr
        assert done.stderr.startswith("Error: APPCTL_WAIT_TIMEOUT must be a number of seconds")


def test_timeout_without_wait_is_a_usage_error(app: Any, env: dict[str, str], runner: Any) -> None:
    from cli import cli

    result = runner.invoke(cli, ["task", "send", "divide", "1", "2", "--timeout", "5"])
    assert (result.exit_code, result.stdout) == (2, "")
    assert "--timeout is for --wait" in result.stderr
    assert runner.invoke(cli, ["task", "history", "-q"]).stdout == "", "nothing was sent"


def test_no_at_a_prompt_is_one_error_line_and_exit_1(env: dict[str, str]) -> None:
    migrated(env)
    assert run_appctl("user", "add", "alice", "alice@example.com", env=env).returncode == 0
    for typed in ("n\n", "\n"):
        run = run_on_terminal("user", "delete", "alice", env=env, typed=typed)
        assert run.returncode == 1
        assert run.stderr == "Delete user alice? [y/N]: \nError: not confirmed; nothing was changed\n"
        assert "Aborted" not in run.screen
    assert run_appctl("user", "show", "alice", env=env).returncode == 0


def test_end_of_input_at_a_prompt_is_one_error_line_and_exit_1(env: dict[str, str]) -> None:
    """Ctrl-D at any prompt: Click printed "Aborted!"; it is one Error line, as a "no" is."""
    migrated(env)
    assert run_appctl("user", "add", "alice", "alice@example.com", env=env).returncode == 0
    asked = run_on_terminal("user", "delete", "alice", env=env, typed="\x04")
    password = OnTerminal("user", "set-password", "alice", env=env)
    deadline = time.monotonic() + HANG
    while password.process.poll() is None and time.monotonic() < deadline:
        os.write(password.main_fd, b"\x04")  # again until it reads one: a password prompt flushes what came before
        time.sleep(0.5)
    for run in (asked, password.finish()):
        assert run.returncode == 1, run
        assert run.stderr.endswith("\nError: no answer (end of input at the prompt); nothing was changed\n"), run
        assert run.stderr.count("Error") == 1 and "Aborted" not in run.stderr + run.screen
    assert run_appctl("user", "show", "alice", env=env).returncode == 0


def test_quotes_in_prose_are_never_cut() -> None:
    """Only a quoted value over 80 characters is cut; an apostrophe ("row's") opens no quote."""
    hint = "'user0' is taken (hint: --on-conflict skip leaves such rows out, update gives the user the row's email)"
    assert cut_long_quotes(hint + " " + "x" * 200) == hint + " " + "x" * 200
    assert cut_long_quotes(f"no user '{'x' * 200}'") == f"no user '{'x' * 80}\u2026'"


def test_the_redis_restore_lock_expires_within_a_few_sweeps(tmp_path: Path) -> None:
    """kombu's sweep lock lives 300 s by default: a lock whose reply a paused Redis lost held back every
    dead worker's jobs that long. appctl bounds it to a few restore intervals (at least 30 s)."""
    bounds = Bounds.from_environ({"APPCTL_RESTORE_INTERVAL": "5"})
    assert broker_transport_options("redis://127.0.0.1:6379/0", bounds)["unacked_mutex_expire"] == 30
    bounds = Bounds.from_environ({"APPCTL_RESTORE_INTERVAL": "20"})
    assert broker_transport_options("redis://127.0.0.1:6379/0", bounds)["unacked_mutex_expire"] == 60
