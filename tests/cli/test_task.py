"""``appctl task list|send`` through CliRunner, with one real worker thread for the module."""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli import cli

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
DIVIDE = "project.users.tasks.divide"
DIVIDE_DOC = "Sleep DIVIDE_DELAY seconds (5 by default, APPCTL_DIVIDE_DELAY), then return x / y."
SIGNATURE = "(x: float, y: float) -> float"
NOT_FIT = f"Error: arguments do not fit divide{SIGNATURE}: "


def invoke(runner: CliRunner, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def sent_and_waited(stderr: str, timeout: str = "60") -> bool:
    """True when stderr is exactly the one line ``task send --wait`` writes before waiting."""
    return re.fullmatch(f"Sent {UUID.pattern}; waiting up to {timeout}s.\n", stderr) is not None


def published_messages(env: dict[str, str]) -> int:
    """How many messages the embedded broker holds."""
    path = Path(env["APPCTL_DATA_DIR"]) / "broker.sqlite"
    if not path.exists():
        return 0
    with sqlite3.connect(path) as connection:
        try:
            count: int = connection.execute("SELECT count(*) FROM kombu_message").fetchone()[0]
        except sqlite3.OperationalError:  # no table: nothing was ever published
            return 0
    return count


def in_seconds(seconds: float) -> str:
    return (datetime.now() + timedelta(seconds=seconds)).isoformat()


def test_list(runner: CliRunner, app: Any) -> None:
    assert invoke(runner, "task", "list") == (0, f"{DIVIDE}\tdivide\t{SIGNATURE}\t{DIVIDE_DOC}\n", "")
    code, stdout, _ = invoke(runner, "task", "list", "-o", "json")
    expected = [{"name": DIVIDE, "short_name": "divide", "signature": SIGNATURE, "doc": DIVIDE_DOC}]
    assert (code, json.loads(stdout)) == (0, expected)


class TestWithAWorker:
    @pytest.fixture(autouse=True)
    def _worker(self, shared_worker: Any) -> None:
        """Every test here runs with the module's worker thread."""

    def test_send_prints_only_the_id_and_the_job_runs(self, runner: CliRunner) -> None:
        code, stdout, stderr = invoke(runner, "task", "send", "divide", "1", "2")
        assert (code, stderr) == (0, "")
        assert UUID.fullmatch(stdout.rstrip("\n")) and stdout.endswith("\n")
        assert invoke(runner, "result", "wait", stdout.strip(), "--timeout", "30") == (0, "0.5\n", "")

    def test_send_as_json(self, runner: CliRunner) -> None:
        code, stdout, _ = invoke(runner, "task", "send", "divide", "1", "2", "-o", "json")
        assert code == 0
        assert UUID.fullmatch(json.loads(stdout)["id"])

    @pytest.mark.parametrize(
        ("args", "printed"),
        [
            (["divide", "1", "2"], "0.5\n"),
            ([DIVIDE, "1", "2"], "0.5\n"),
            (["divide", "-k", "x=3", "-k", "y=4"], "0.75\n"),
            (["divide", "3", "--kwarg", "y=4"], "0.75\n"),
            (["divide", "-1", "4"], "-0.25\n"),
            (["divide", "1.5", "-0.5"], "-3.0\n"),
            (["divide", "1e1", "4"], "2.5\n"),
            (["divide", "-kx=-6", "-k", "y=4"], "-1.5\n"),
            (["divide", "--", "-3", "4"], "-0.75\n"),
        ],
    )
    def test_send_and_wait(self, runner: CliRunner, args: list[str], printed: str) -> None:
        code, stdout, stderr = invoke(runner, "task", "send", "--wait", *args)
        assert (code, stdout) == (0, printed)
        assert sent_and_waited(stderr)

    def test_wait_as_json_shows_the_job(self, runner: CliRunner) -> None:
        code, stdout, _ = invoke(runner, "task", "send", "divide", "1", "4", "--wait", "-o", "json")
        [job] = json.loads(stdout)
        assert code == 0
        assert job.keys() == {"id", "name", "state", "result", "error", "finished_at", "worker"}
        assert (job["name"], job["state"], job["result"], job["error"]) == (DIVIDE, "SUCCESS", 0.25, None)
        assert job["worker"] and datetime.fromisoformat(job["finished_at"])

    def test_failing_job_is_exit_1_and_names_the_error(self, runner: CliRunner) -> None:
        code, stdout, stderr = invoke(runner, "task", "send", "divide", "1", "0", "--wait")
        assert (code, stdout) == (1, "")
        assert re.fullmatch(
            f"Sent ({UUID.pattern}); waiting up to 60s.\n"
            "Error: task \\1 failure: ZeroDivisionError: division by zero\n",
            stderr,
        )

    def test_strings_reach_the_task_as_strings(self, runner: CliRunner) -> None:
        code, _, stderr = invoke(runner, "task", "send", "divide", "one", "2", "--wait")
        assert code == 1
        assert "TypeError: unsupported operand type(s) for /: 'str' and 'int'" in stderr

    @pytest.mark.parametrize("option", ["--countdown", "--eta"], ids=["countdown", "eta"])
    def test_a_job_for_later_does_not_run_now(self, runner: CliRunner, option: str) -> None:
        later = "60" if option == "--countdown" else in_seconds(60)  # when the test runs, not when collected
        code, stdout, stderr = invoke(
            runner, "task", "send", "divide", "1", "2", option, later, "--wait", "--timeout", "1"
        )
        assert (code, stdout) == (124, "")
        assert stderr.splitlines()[-1].startswith("Error: timed out after 1s waiting for ")

    @pytest.mark.parametrize(
        "delay",
        [["--countdown", "0.2"], ["--eta", -60], ["--expires", "600"], ["--expires", 600]],
        ids=["countdown", "eta-past", "expires-seconds", "expires-time"],
    )
    def test_timing_options_that_let_the_job_run(self, runner: CliRunner, delay: list[str | int]) -> None:
        option, value = delay  # an int is seconds from when the test runs, given as a time
        when = in_seconds(value) if isinstance(value, int) else value
        assert invoke(runner, "task", "send", "divide", "1", "2", option, when, "--wait")[:2] == (0, "0.5\n")

    def test_an_expired_job_is_revoked_exit_1(self, runner: CliRunner) -> None:
        expired = ["--expires", in_seconds(-60)]
        code, stdout, stderr = invoke(runner, "task", "send", "divide", "1", "2", *expired, "--wait")
        assert (code, stdout) == (1, "")
        assert "revoked: TaskRevokedError: expired" in stderr

    def test_queue_routes_the_job(self, runner: CliRunner, shared_env: dict[str, str]) -> None:
        own = invoke(runner, "task", "send", "divide", "1", "2", "--queue", shared_env["APPCTL_QUEUE"], "--wait")
        assert own[:2] == (0, "0.5\n")
        other = invoke(runner, "task", "send", "divide", "1", "2", "--queue", "nobody", "--wait", "--timeout", "1")
        assert other[:2] == (124, "")


def test_wait_without_a_worker_times_out(runner: CliRunner, app: Any) -> None:
    code, stdout, stderr = invoke(runner, "task", "send", "divide", "1", "2", "--wait", "--timeout", "0.5")
    assert (code, stdout) == (124, "")
    assert sent_and_waited(stderr.splitlines(keepends=True)[0], "0.5")
    assert stderr.splitlines()[1].startswith("Error: timed out after 0.5s waiting for ")


def test_a_good_send_publishes_one_message(runner: CliRunner, app: Any, env: dict[str, str]) -> None:
    assert invoke(runner, "task", "send", "divide", "1", "2")[0] == 0
    assert published_messages(env) == 1


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["nope", "1", "2"], 3, "Error: no task 'nope' (hint: `appctl task list` shows the registered tasks)\n"),
        (["divide", "1"], 65, NOT_FIT + "missing a required argument: 'y'\n"),
        (["divide", "1", "2", "3"], 65, NOT_FIT + "too many positional arguments\n"),
        (
            ["divide", "1", "2", "-k", "z=3"],
            65,
            NOT_FIT + "got an unexpected keyword argument 'z'\n",
        ),
        (["divide", "1", "-k", "x=2"], 65, NOT_FIT + "multiple values for argument 'x'\n"),
        (["divide", "1", "2", "--bogus"], 2, "No such option '--bogus'"),
        (["divide", "1", "2", "-z"], 2, "No such option '-z'"),
        (["divide", "-k", "novalue"], 2, "is not key=value"),
        (["divide", "-k", "1x=2"], 2, "is not key=value"),
        (["divide", "1", "2", "--countdown", "-1"], 2, "Invalid value for '--countdown'"),
        (["divide", "1", "2", "--countdown", "soon"], 2, "Invalid value for '--countdown'"),
        (["divide", "1", "2", "--eta", "tomorrow"], 2, "Invalid value for '--eta'"),
        (["divide", "1", "2", "--expires", "later"], 2, "Invalid value for '--expires'"),
        (["divide", "1", "2", "--timeout", "nan"], 2, "Invalid value for '--timeout'"),
        ([], 2, "Missing argument 'NAME'"),
    ],
)
def test_bad_sends_publish_nothing(
    runner: CliRunner, app: Any, env: dict[str, str], args: list[str], code: int, message: str
) -> None:
    result = invoke(runner, "task", "send", *args)
    assert result[:2] == (code, "")
    assert result[2] == message if code != 2 else message in result[2]
    assert published_messages(env) == 0
