"""A password and its hash never show: not in any output, file, history row or log, not under --debug with a
failure, not in the process's arguments or environment; and a terminal asks for it twice, hidden."""

from __future__ import annotations

import os
import pty
import select
import sqlite3
import subprocess
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import APPCTL, invoke_appctl, run_appctl

PASSWORD = "s3cret-Horse-Battery-77"
FORMATS = ("table", "json", "jsonl", "csv", "plain")


def sqlite_rows(database: Path, query: str) -> list[Any]:
    with sqlite3.connect(database) as connection:
        return connection.execute(query).fetchall()


def test_the_password_and_its_hash_are_in_nothing_the_commands_print_or_write(env: dict[str, str]) -> None:
    """Through Click's runner (what a command prints is the same in a process of its own)."""
    data = Path(env["APPCTL_DATA_DIR"])
    outputs: list[str] = []

    def run(*args: str, input: str | None = None, debug: bool = False) -> subprocess.CompletedProcess[str]:
        done = invoke_appctl(*(("--debug",) if debug else ()), *args, env=env, input=input)
        outputs.extend([done.stdout, done.stderr])
        return done

    assert run("db", "upgrade").returncode == 0
    assert run("user", "add", "pat", "pat@example.com").returncode == 0
    for debug in (False, True):
        assert (
            run("user", "set-password", "pat", "--password-stdin", input=PASSWORD + "\n", debug=debug).returncode == 0
        )
        assert run("user", "check-password", "pat", "--password-stdin", input=PASSWORD, debug=debug).returncode == 0
        assert run("user", "check-password", "pat", "--password-stdin", input="wrong", debug=debug).returncode == 1
    [(stored,)] = sqlite_rows(data / "app.sqlite", "SELECT password_hash FROM users")
    for fmt in FORMATS:
        for command in (
            ("user", "show", "pat"),
            ("user", "list"),
            ("user", "update", "pat", "--email", "p@example.com"),
        ):
            assert run(*command, "-o", fmt, debug=True).returncode == 0
    for fmt in ("jsonl", "csv", "json"):
        assert run("user", "export", "-o", fmt).returncode == 0
    exported = data.parent / "export.jsonl"
    exported.write_text(run("user", "export").stdout)
    assert run("user", "import", str(exported), "--on-conflict", "update", debug=True).returncode == 0
    assert run("user", "delete", "pat", "--yes", debug=True).returncode == 0
    assert run("user", "add", "pat", "pat@example.com").returncode == 0
    assert run("user", "set-password", "pat", "--password-stdin", input=PASSWORD, debug=True).returncode == 0

    # A failing UPDATE under --debug: the traceback names the statement, never its values.
    with sqlite3.connect(data / "app.sqlite") as connection:
        connection.execute(
            "CREATE TRIGGER refuse BEFORE UPDATE OF password_hash ON users BEGIN SELECT RAISE(ABORT, 'forced'); END"
        )
    failed = run("user", "set-password", "pat", "--password-stdin", input=PASSWORD, debug=True)
    assert failed.returncode == 70
    assert "Traceback" in failed.stderr and "UPDATE users SET password_hash" in failed.stderr
    assert "[SQL parameters hidden due to hide_parameters=True]" in failed.stderr

    for text in outputs:
        assert PASSWORD not in text and stored not in text and "scrypt:" not in text, text
    history = sqlite_rows(data / "app.sqlite", "SELECT * FROM jobs")
    assert PASSWORD not in repr(history) and "scrypt:" not in repr(history)
    assert PASSWORD.encode() not in exported.read_bytes() and b"scrypt:" not in exported.read_bytes()
    for path in data.parent.rglob("*"):  # the data directory's databases, logs and write-ahead logs
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path


def test_a_password_on_stdin_is_not_in_the_process_s_arguments_or_environment(env: dict[str, str]) -> None:
    assert run_appctl("db", "upgrade", env=env).returncode == 0
    assert run_appctl("user", "add", "pat", "pat@example.com", env=env).returncode == 0
    process = subprocess.Popen(
        [APPCTL, "user", "set-password", "pat", "--password-stdin"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdin is not None
    process.stdin.write(PASSWORD.encode())  # no newline yet: the command waits in readline, the password in hand
    process.stdin.flush()
    seen = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(seen) < 20:
        for name in ("cmdline", "environ"):
            seen.append(Path(f"/proc/{process.pid}/{name}").read_bytes())
        ps = subprocess.run(["ps", "-ww", "-o", "args=", "-p", str(process.pid)], capture_output=True, check=False)
        seen.append(ps.stdout)
        time.sleep(0.1)
    process.stdin.write(b"\n")
    out, err = process.communicate(timeout=60)
    assert (process.returncode, out, err) == (0, b"", b"Set the password of user pat.\n")
    assert any(b"set-password" in snapshot for snapshot in seen)
    assert not any(PASSWORD.encode() in snapshot for snapshot in seen)
    checked = run_appctl("user", "check-password", "pat", "--password-stdin", env=env, input=PASSWORD)
    assert checked.returncode == 0


def on_terminal(args: list[str], env: dict[str, str], answers: list[str]) -> tuple[int, str, str]:
    """Run appctl with a pty as stdin and stdout; type each answer once stderr shows the next prompt."""
    main_fd, terminal_fd = pty.openpty()
    process = subprocess.Popen(
        [APPCTL, *args], env={**env, "TERM": "dumb"}, stdin=terminal_fd, stdout=terminal_fd, stderr=subprocess.PIPE
    )
    os.close(terminal_fd)
    assert process.stderr is not None
    stderr, screen, prompts = b"", b"", 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stderr, main_fd], [], [], 0.2)
        if process.stderr in ready:
            chunk = os.read(process.stderr.fileno(), 4096)
            if not chunk:
                break
            stderr += chunk
        if main_fd in ready:
            with suppress(OSError):
                screen += os.read(main_fd, 4096)
        if prompts < len(answers) and stderr.count(b":") > prompts and stderr.rstrip().endswith(b":"):
            time.sleep(0.2)  # the prompt is out; the terminal's echo is being switched off right after it
            os.write(main_fd, answers[prompts].encode() + b"\r")
            prompts += 1
    process.wait(timeout=60)
    os.close(main_fd)
    return process.returncode, screen.decode(errors="replace"), stderr.decode()


@pytest.fixture
def pat(env: dict[str, str]) -> dict[str, str]:
    assert run_appctl("db", "upgrade", env=env).returncode == 0
    assert run_appctl("user", "add", "pat", "pat@example.com", env=env).returncode == 0
    return env


def test_a_terminal_is_asked_twice_without_echo(pat: dict[str, str]) -> None:
    code, screen, stderr = on_terminal(["user", "set-password", "pat"], pat, [PASSWORD, PASSWORD])
    assert code == 0, stderr
    assert stderr.startswith("Password:") and "Repeat the password:" in stderr
    assert stderr.endswith("Set the password of user pat.\n")
    assert PASSWORD not in screen + stderr
    assert run_appctl("user", "check-password", "pat", "--password-stdin", env=pat, input=PASSWORD).returncode == 0
    code, _, stderr = on_terminal(["user", "check-password", "pat"], pat, [PASSWORD])
    assert (code, stderr.endswith("The password of user pat matches.\n")) == (0, True)


def test_two_different_passwords_on_a_terminal_are_exit_65_and_change_nothing(pat: dict[str, str]) -> None:
    code, screen, stderr = on_terminal(["user", "set-password", "pat"], pat, [PASSWORD, PASSWORD + "x"])
    assert code == 65
    assert stderr.endswith("Error: the two passwords typed do not match; nothing was changed\n")
    assert PASSWORD not in screen + stderr
    checked = run_appctl("user", "check-password", "pat", "--password-stdin", env=pat, input=PASSWORD)
    assert (checked.returncode, checked.stderr) == (
        1,
        "Error: user 'pat' has no password (hint: `appctl user set-password` sets one)\n",
    )
