"""`appctl user import` / `user export` as users run them, and the progress bar on a terminal."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli import cli
from tests.cli.terminal import run_with_terminal_stderr
from tests.conftest import APPCTL, invoke_appctl

CSV = "username,email\nann,ann@example.com\nbob,bob@example.com\n"


def listed(runner: CliRunner) -> str:
    return runner.invoke(cli, ["user", "list", "-o", "plain"]).stdout


def test_import_reports_on_stderr_only(runner: CliRunner, app: Any, tmp_path: Path) -> None:
    path = tmp_path / "users.csv"
    path.write_text(CSV)
    result = runner.invoke(cli, ["user", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert result.stderr == "Imported users: 2 inserted, 0 updated, 0 skipped, 0 invalid.\n"
    assert listed(runner) == "1\tann\tann@example.com\ttrue\n2\tbob\tbob@example.com\ttrue\n"


def test_import_from_stdin_sniffs_jsonl(runner: CliRunner, app: Any) -> None:
    result = runner.invoke(cli, ["user", "import", "-"], input='{"username": "ann", "email": "ann@example.com"}\n')
    assert (result.exit_code, result.stderr) == (0, "Imported users: 1 inserted, 0 updated, 0 skipped, 0 invalid.\n")


def test_an_invalid_row_is_exit_65_and_writes_nothing(runner: CliRunner, app: Any) -> None:
    result = runner.invoke(cli, ["user", "import", "-"], input=CSV + "cy,not-an-email\n")
    assert result.exit_code == 65
    assert result.stdout == ""
    assert result.stderr.startswith(
        "Error: 1 of 3 rows are invalid, nothing was imported: line 4: email 'not-an-email'"
    )
    assert listed(runner) == ""


def test_a_taken_user_is_exit_4_naming_the_line(runner: CliRunner, app: Any) -> None:
    runner.invoke(cli, ["user", "add", "bob", "bob@example.com"])
    result = runner.invoke(cli, ["user", "import", "-"], input=CSV)
    assert result.exit_code == 4
    assert result.stderr.startswith("Error: line 3: username 'bob' is already taken; nothing was imported")
    assert listed(runner) == "1\tbob\tbob@example.com\ttrue\n"


def test_on_conflict_skip_and_dry_run(runner: CliRunner, app: Any) -> None:
    runner.invoke(cli, ["user", "add", "bob", "bob@example.com"])
    dry = runner.invoke(cli, ["user", "import", "-", "--on-conflict", "skip", "--dry-run"], input=CSV)
    assert dry.exit_code == 0
    assert dry.stderr == "Dry run, nothing written: would have 1 inserted, 0 updated, 1 skipped, 0 invalid.\n"
    done = runner.invoke(cli, ["user", "import", "-", "--on-conflict", "skip"], input=CSV)
    assert done.stderr == "Imported users: 1 inserted, 0 updated, 1 skipped, 0 invalid.\n"


def test_skip_invalid_lists_the_first_errors(runner: CliRunner, app: Any) -> None:
    result = runner.invoke(cli, ["user", "import", "-", "--skip-invalid"], input=CSV + "12,x@example.com\n")
    assert result.exit_code == 0
    assert result.stderr == (
        "Imported users: 2 inserted, 0 updated, 0 skipped, 1 invalid. "
        "First errors: line 4: username '12' is all digits, which reads as a user id\n"
    )


def test_bad_on_conflict_is_a_usage_error(runner: CliRunner, app: Any) -> None:
    assert runner.invoke(cli, ["user", "import", "-", "--on-conflict", "merge"], input=CSV).exit_code == 2


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("jsonl", '{"id": 1, "username": "ann", "email": "ann@example.com", "active": true}\n'),
        ("csv", "id,username,email,active\n1,ann,ann@example.com,true\n"),
    ],
)
def test_export(runner: CliRunner, app: Any, fmt: str, expected: str) -> None:
    runner.invoke(cli, ["user", "add", "ann", "ann@example.com"])
    result = runner.invoke(cli, ["user", "export", "-o", fmt])
    assert (result.exit_code, result.stdout, result.stderr) == (0, expected, "")


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json"])
def test_export_then_import_elsewhere_round_trips(env: dict[str, str], tmp_path: Path, fmt: str) -> None:
    assert invoke_appctl("db", "upgrade", env=env).returncode == 0
    users = "username,email\n" + "".join(f"user{i},user{i}@example.com\n" for i in range(50)) + "o'neil,o@example.org\n"
    assert invoke_appctl("user", "import", "-", env=env, input=users).returncode == 0
    exported = invoke_appctl("user", "export", "-o", fmt, env=env).stdout
    other = {**env, "APPCTL_DATA_DIR": str(tmp_path / "other")}
    assert invoke_appctl("db", "upgrade", env=other).returncode == 0
    imported = invoke_appctl("user", "import", "-", env=other, input=exported)
    assert imported.returncode == 0, imported.stderr
    assert invoke_appctl("user", "export", "-o", fmt, env=other).stdout == exported


def test_a_reader_that_stops_early_ends_export_quietly(env: dict[str, str]) -> None:
    assert invoke_appctl("db", "upgrade", env=env).returncode == 0
    many = "username,email\n" + "".join(f"u{i},u{i}@example.com\n" for i in range(20000))
    assert invoke_appctl("user", "import", "-", env=env, input=many).returncode == 0
    pipeline = f"'{APPCTL}' user export | head -1; exit ${{PIPESTATUS[0]}}"
    done = subprocess.run(["bash", "-c", pipeline], env=env, capture_output=True, text=True, timeout=60)
    assert done.stdout == '{"id": 1, "username": "u0", "email": "u0@example.com", "active": true}\n'
    assert (done.returncode, done.stderr) == (141, "")


def test_progress_bars_only_on_a_terminal(env: dict[str, str]) -> None:
    assert invoke_appctl("db", "upgrade", env=env).returncode == 0
    status, stdout, screen = run_with_terminal_stderr("user", "import", "-", env=env, stdin=CSV)
    assert (status, stdout) == (0, "")
    assert "Importing users" in screen and "2 inserted" in screen
    status, stdout, screen = run_with_terminal_stderr(
        "task", "send", "divide", "--from-file", "-", env=env, stdin="[1, 2]\n[3, 4]\n"
    )
    assert status == 0
    assert len(stdout.splitlines()) == 2  # the ids, and nothing of the bar
    assert "Sending divide" in screen


WRITERS = [("user", "export", "-o", fmt) for fmt in ("csv", "jsonl", "json")] + [
    ("user", "list", "-o", fmt) for fmt in ("csv", "jsonl", "json")
]


@pytest.mark.parametrize("writer", WRITERS, ids=" ".join)
@pytest.mark.parametrize("through", ["stdin", "a file named for its format", "file.txt"])
def test_import_reads_every_shape_user_list_and_export_write(
    runner: CliRunner, app: Any, tmp_path: Path, writer: tuple[str, ...], through: str
) -> None:
    """What `user list -o json|jsonl|csv` and `user export` print imports unchanged (after a delete)."""
    for i in range(3):
        assert runner.invoke(cli, ["user", "add", f"user{i}", f"user{i}@example.com"]).exit_code == 0
    before = runner.invoke(cli, ["user", "list", "-o", "jsonl"]).stdout
    written = runner.invoke(cli, list(writer)).stdout
    for i in range(3):
        assert runner.invoke(cli, ["user", "delete", f"user{i}", "--yes"]).exit_code == 0
    if through == "stdin":
        result = runner.invoke(cli, ["user", "import", "-"], input=written)
    else:
        path = tmp_path / (through if through == "file.txt" else f"users.{writer[-1]}")
        path.write_text(written)
        result = runner.invoke(cli, ["user", "import", str(path)])
    assert result.exit_code == 0, result.stderr
    assert "3 inserted" in result.stderr
    after = runner.invoke(cli, ["user", "list", "-o", "jsonl"]).stdout
    assert [line.split(", ", 1)[1] for line in after.splitlines()] == [
        line.split(", ", 1)[1] for line in before.splitlines()
    ]  # the same users; the ids are new


@pytest.mark.parametrize(
    "text", [b"", b"username,email\n", b"id,username,email\r\n", b"\n\n  \n", b"[]", b"[\n]\n", b"\xef\xbb\xbf"]
)
@pytest.mark.parametrize("through", ["stdin", "file"])
def test_an_import_without_users_is_exit_65(
    runner: CliRunner, app: Any, tmp_path: Path, text: bytes, through: str
) -> None:
    path = tmp_path / "users.txt"  # no format in the name: read by its first character
    path.write_bytes(text)
    source = "-" if through == "stdin" else str(path)
    result = runner.invoke(cli, ["user", "import", source], input=text)
    where = "the input" if through == "stdin" else str(path)
    assert (result.exit_code, result.stdout) == (65, "")
    assert result.stderr.startswith(f"Error: no users in {where} ") and result.stderr.count("\n") == 1
