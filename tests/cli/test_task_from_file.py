"""`appctl task send NAME --from-file FILE|-`: one job per JSON line, ids on stdout, all-or-nothing for files."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import threading
from pathlib import Path
from typing import IO, Any

import pytest
from click.testing import CliRunner

from cli import cli
from tests.conftest import APPCTL, HANG, run_appctl

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
GOOD = '[1, 2]\n{"args": [3], "kwargs": {"y": 4}}\n\n{"kwargs": {"x": 5, "y": 6}}\n'


def queued(env: dict[str, str]) -> int:
    """How many messages wait in this test's queue on the embedded broker."""
    path = Path(env["APPCTL_DATA_DIR"]) / "broker.sqlite"
    if not path.exists():
        return 0
    with sqlite3.connect(path) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "kombu_message" not in tables:
            return 0
        query = "SELECT count(*) FROM kombu_message m JOIN kombu_queue q ON m.queue_id = q.id WHERE q.name = ?"
        count: int = connection.execute(query, (env["APPCTL_QUEUE"],)).fetchone()[0]
    return count


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "jobs.jsonl"
    path.write_text(text)
    return str(path)


def test_sends_one_job_per_line_and_prints_the_ids(runner: CliRunner, app: Any, env: dict[str, str]) -> None:
    result = runner.invoke(cli, ["task", "send", "divide", "--from-file", write(Path(env["APPCTL_DATA_DIR"]), GOOD)])
    assert result.exit_code == 0, result.output
    ids = result.stdout.splitlines()
    assert len(ids) == 3 and all(UUID.match(i) for i in ids)
    assert result.stderr == ""
    assert queued(env) == 3


def test_jsonl_output(runner: CliRunner, app: Any, env: dict[str, str]) -> None:
    path = write(Path(env["APPCTL_DATA_DIR"]), "[1, 2]\n")
    result = runner.invoke(cli, ["task", "send", "divide", "--from-file", path, "-o", "jsonl"])
    assert result.exit_code == 0, result.output
    assert re.fullmatch(r'\{"id": "[0-9a-f-]{36}"\}\n', result.stdout)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("[1]", "line 3: arguments do not fit divide(x: float, y: float) -> float: missing a required argument: 'y'"),
        ("[1, 2", "line 3: not JSON"),
        ('{"args": [1, 2], "when": 5}', 'line 3: \'{"args": [1, 2], "when": 5}\' is not a JSON array of arguments'),
        ('"1, 2"', "line 3: '\"1, 2\"' is not a JSON array"),
        ('{"args": [1], "kwargs": {"z": 2}}', "line 3: arguments do not fit divide"),
    ],
)
def test_a_bad_line_in_a_file_sends_nothing(
    runner: CliRunner, app: Any, env: dict[str, str], line: str, message: str
) -> None:
    path = write(Path(env["APPCTL_DATA_DIR"]), f"[1, 2]\n[3, 4]\n{line}\n[5, 6]\n")
    result = runner.invoke(cli, ["task", "send", "divide", "--from-file", path])
    assert result.exit_code == 65
    assert result.stdout == ""
    assert result.stderr.startswith(f"Error: {message}")
    assert result.stderr.endswith("; nothing was sent\n")
    assert queued(env) == 0


def test_from_a_pipe_a_bad_line_stops_after_the_jobs_before_it(app: Any, env: dict[str, str]) -> None:
    done = run_appctl("task", "send", "divide", "--from-file", "-", env=env, input="[1, 2]\n[3, 4]\n[5]\n[7, 8]\n")
    assert done.returncode == 65
    ids = done.stdout.splitlines()
    assert len(ids) == 2 and all(UUID.match(i) for i in ids)
    assert done.stderr.startswith("Error: line 3: arguments do not fit divide")
    assert done.stderr.endswith("; 2 jobs sent before it\n")
    assert queued(env) == 2


def test_from_a_pipe_every_job_is_sent(app: Any, env: dict[str, str]) -> None:
    done = run_appctl("task", "send", "divide", "--from-file", "-", env=env, input=GOOD)
    assert (done.returncode, done.stderr) == (0, "")
    assert len(done.stdout.splitlines()) == 3 == queued(env)


def lines_within(stream: IO[str], count: int, seconds: float) -> list[str]:
    """Up to ``count`` lines of ``stream``, as many as come within ``seconds``."""
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(stream.readline() for _ in range(count)), daemon=True)
    reader.start()
    reader.join(seconds)
    return list(lines)


def test_from_a_pipe_the_ids_of_what_arrived_are_printed_before_more_input(app: Any, env: dict[str, str]) -> None:
    """A producer that writes a few lines and waits sees their ids before it writes more."""
    command = [APPCTL, "task", "send", "divide", "--from-file", "-"]
    sending = subprocess.Popen(command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert sending.stdin is not None and sending.stdout is not None
    try:
        for round_ in range(3):
            sending.stdin.write(f"[{round_}, 1]\n[{round_}, 2]\n")
            sending.stdin.flush()
            ids = lines_within(sending.stdout, 2, 60)
            assert len(ids) == 2 and all(UUID.match(i.strip()) for i in ids), (round_, ids)
        sending.stdin.close()
        assert sending.wait(HANG) == 0
    finally:
        sending.kill()
        sending.wait(HANG)
    assert queued(env) == 6


@pytest.mark.parametrize("text", ["", "\n", "  \n\n\t\n"])
def test_an_input_without_jobs_is_exit_65(app: Any, env: dict[str, str], text: str) -> None:
    """As with `user import`, sending nothing is more likely a wrong file than a wish: from a file and a pipe."""
    expected = "Error: no jobs in the input (it is empty or holds blank lines only); nothing was sent\n"
    for source in (write(Path(env["APPCTL_DATA_DIR"]), text), "-"):
        done = run_appctl("task", "send", "divide", "--from-file", source, env=env, input=text)
        assert (done.returncode, done.stdout, done.stderr) == (65, "", expected)
    assert queued(env) == 0


def test_unknown_task_is_exit_3(runner: CliRunner, app: Any, env: dict[str, str]) -> None:
    result = runner.invoke(cli, ["task", "send", "nosuch", "--from-file", write(Path(env["APPCTL_DATA_DIR"]), GOOD)])
    assert result.exit_code == 3
    assert "no task 'nosuch'" in result.stderr


@pytest.mark.parametrize("extra", [["1", "2"], ["-k", "x=1"], ["--wait"]])
def test_from_file_takes_no_arguments_or_wait(
    runner: CliRunner, app: Any, env: dict[str, str], extra: list[str]
) -> None:
    path = write(Path(env["APPCTL_DATA_DIR"]), GOOD)
    result = runner.invoke(cli, ["task", "send", "divide", *extra, "--from-file", path])
    assert result.exit_code == 2
    assert "--from-file takes no ARGS, -k or --wait" in result.stderr
    assert queued(env) == 0


def test_missing_file_is_a_usage_error(runner: CliRunner, app: Any) -> None:
    result = runner.invoke(cli, ["task", "send", "divide", "--from-file", "/nonexistent/jobs.jsonl"])
    assert result.exit_code == 2
    assert "/nonexistent/jobs.jsonl" in result.stderr


@pytest.mark.parametrize(
    "bad", ["[1, NaN]", "[Infinity, 2]", "[1, -Infinity]", "[1e999, 2]", "[1, " + "[" * 150 + "]" * 150 + "]"]
)
@pytest.mark.parametrize("line", [2, 1000])
def test_from_a_pipe_values_are_checked_on_every_line(app: Any, env: dict[str, str], bad: str, line: int) -> None:
    """Line 1 has the same shape as the bad line: its verdict must not be reused for the values."""
    lines = "[1, 2]\n" * (line - 1) + bad + "\n[3, 4]\n"
    done = run_appctl("task", "send", "divide", "--from-file", "-", env=env, input=lines)
    assert done.returncode == 65, done.stderr
    assert done.stderr.startswith(f"Error: line {line}: arguments must be ") and done.stderr.count("\n") == 1
    assert len(done.stdout.splitlines()) == line - 1 == queued(env)


def test_whole_numbers_beyond_64_bits_are_json_and_are_sent(runner: CliRunner, app: Any, env: dict[str, str]) -> None:
    """JSON numbers have no size limit and Python holds them: the job and its history keep them exactly."""
    from project.jobs.history.read import find_job

    huge = 10**30
    path = write(Path(env["APPCTL_DATA_DIR"]), f"[1, 2]\n[{huge}, {-huge}]\n")
    result = runner.invoke(cli, ["task", "send", "divide", "--from-file", path])
    assert result.exit_code == 0, result.stderr
    job = find_job(result.stdout.splitlines()[1])
    assert job is not None and job["args"] == [huge, -huge]
