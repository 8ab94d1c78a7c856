"""`task status --watch` and `task history --follow` with a real `appctl worker`, on the embedded default
and on Redis + PostgreSQL: the changes they print, their exit codes, and what a terminal shows."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.cli.interrupting import INTERRUPTED, start, wait_until
from tests.cli.terminal import OnTerminal
from tests.conftest import APPCTL, HANG, fresh_pg_schema, isolate_environment, run_appctl
from tests.processes import worker_process

SYSTEMS = ["embedded", pytest.param("redis+postgresql", marks=pytest.mark.services)]


@pytest.fixture(scope="module", params=SYSTEMS)
def system(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A migrated environment with an `appctl worker` process running for the module's tests."""
    logs = tmp_path_factory.mktemp("watch")
    with pytest.MonkeyPatch.context() as monkeypatch, _database(request.param) as database_url:
        env = {**isolate_environment(monkeypatch, logs / "data"), "APPCTL_DIVIDE_DELAY": "0.5"}
        if database_url:
            redis_url = request.getfixturevalue("redis_url")
            env.update(DATABASE_URL=database_url, CELERY_BROKER_URL=redis_url, CELERY_RESULT_BACKEND=redis_url)
        upgraded = run_appctl("db", "upgrade", env=env)
        assert upgraded.returncode == 0, upgraded.stderr
        with worker_process([APPCTL, "worker", "--loglevel=info", "--concurrency=2"], env, logs / "worker.log"):
            yield env


@contextmanager
def _database(system: str) -> Iterator[str | None]:
    if system == "embedded":
        yield None
    else:
        with fresh_pg_schema("appctl_watch") as url:
            yield url


def send(env: dict[str, str], *args: str) -> str:
    sent = run_appctl("task", "send", "divide", *args, env=env)
    assert sent.returncode == 0, sent.stderr
    return sent.stdout.strip()


def last_states(jsonl: str) -> dict[str, str]:
    """The last state printed for each id."""
    return {record["id"]: record["state"] for record in map(json.loads, jsonl.splitlines())}


# task status --watch


def test_watch_prints_each_change_as_jsonl_off_a_terminal_and_exits_like_result_wait(system: dict[str, str]) -> None:
    good, bad = send(system, "1", "2"), send(system, "1", "0")
    watched = run_appctl("task", "status", good, bad, "--watch", "--timeout", str(HANG), env=system)
    assert watched.returncode == 1
    assert watched.stderr == f"Error: task {bad} failure: ZeroDivisionError: division by zero\n"
    lines = [json.loads(line) for line in watched.stdout.splitlines()]
    assert [line["id"] for line in lines[:2]] == [good, bad]  # first every job as it is, then each change
    assert last_states(watched.stdout) == {good: "SUCCESS", bad: "FAILURE"}
    assert all(line["sent_at"].endswith("+00:00") for line in lines)  # ISO 8601 in UTC, with the zone


def test_watch_exits_0_when_every_job_succeeded(system: dict[str, str]) -> None:
    good = send(system, "3", "4")
    watched = run_appctl("task", "status", good, "--watch", "-o", "plain", env=system)
    assert (watched.returncode, watched.stderr) == (0, "")
    assert watched.stdout.splitlines()[-1].split("\t")[:3] == [good, "project.users.tasks.divide", "SUCCESS"]


def test_watch_of_an_id_never_sent_is_exit_3_at_once(system: dict[str, str]) -> None:
    watched = run_appctl("task", "status", "never-sent-id", "--watch", env=system)
    assert (watched.returncode, watched.stdout) == (3, "")
    assert watched.stderr.startswith("Error: no job 'never-sent-id' is known to the job history or the result backend")


def test_watch_gives_up_after_timeout_with_exit_124(system: dict[str, str]) -> None:
    later = send(system, "1", "2", "--countdown", "3600")
    watched = run_appctl("task", "status", later, "--watch", "--timeout", "1", env=system)
    assert watched.returncode == 124
    assert watched.stderr == f"Error: timed out after 1s watching {later}\n"
    assert last_states(watched.stdout) == {later: "PENDING"}
    assert run_appctl("task", "revoke", later, env=system).returncode == 0


def test_timeout_without_watch_is_a_usage_error(system: dict[str, str]) -> None:
    done = run_appctl("task", "status", "some-id", "--timeout", "5", env=system)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith("Error: --timeout is for --watch")


def test_watch_on_a_terminal_redraws_the_table_in_place_in_colour(system: dict[str, str]) -> None:
    later = send(system, "1", "2", "--countdown", "3600")
    terminal = OnTerminal("task", "status", later, "--watch", env=system, columns=80)
    terminal.wait_for("PENDING")
    assert run_appctl("task", "revoke", later, env=system).returncode == 0
    run = terminal.finish()
    assert run.returncode == 1
    assert run.stderr == f"Error: task {later} revoked: TaskRevokedError: revoked\n"
    assert "\x1b[34mPENDING" in run.screen and "\x1b[35mREVOKED" in run.screen  # blue, then magenta
    assert "\x1b[1A" in run.screen  # the cursor went back up: the table was drawn again over itself
    assert f"│ {later} │" in run.screen  # the whole id, on 80 columns


# task history --follow


class Lines:
    """The lines a process writes to stdout, read by a thread so that a test can wait for them with a bound."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self.lines: queue.Queue[bytes] = queue.Queue()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        self.seen: list[dict[str, Any]] = []

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in iter(self.process.stdout.readline, b""):
            self.lines.put(line)

    def interrupt(self) -> tuple[int, str, str]:
        """Press Ctrl-C: the exit status, what stdout printed after the records read, and stderr."""
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=HANG)
        self.thread.join(timeout=HANG)
        assert self.process.stderr is not None
        rest = b"".join(self.lines.get() for _ in range(self.lines.qsize()))
        return self.process.returncode, rest.decode(), self.process.stderr.read().decode()

    def until(self, done: Any) -> list[dict[str, Any]]:
        """Read records until ``done(records so far)``; fail after HANG seconds."""
        deadline = time.monotonic() + HANG
        while not done(self.seen):
            self.seen.append(json.loads(self.lines.get(timeout=max(0.1, deadline - time.monotonic()))))
        return self.seen


def states_of(records: list[dict[str, Any]], task_id: str) -> list[str]:
    return [record["state"] for record in records if record["id"] == task_id]


def following(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    """`task history --follow ARGS` with stdout piped, once it has said on stderr that it follows."""
    process = start("task", "history", "--follow", *args, env=env)
    assert process.stderr is not None
    stderr = process.stderr
    wait_until(lambda: stderr.readline().startswith(b"Following"), process, "following")
    return process


def test_follow_prints_new_and_changed_jobs_as_jsonl_until_ctrl_c(system: dict[str, str]) -> None:
    before = send(system, "5", "6", "--countdown", "3600")  # sent before following began
    process = following(system)
    lines = Lines(process)
    assert run_appctl("task", "revoke", before, env=system).returncode == 0
    good, bad = send(system, "1", "2"), send(system, "1", "0")
    seen = lines.until(
        lambda records: (
            {"SUCCESS"} <= set(states_of(records, good))
            and {"FAILURE"} <= set(states_of(records, bad))
            and states_of(records, before)
        )
    )
    status, rest, stderr = lines.interrupt()
    assert (status, stderr) == (130, INTERRUPTED)
    seen += [json.loads(line) for line in rest.splitlines()]
    assert states_of(seen, before) == ["REVOKED"]  # an old job is printed when it changes
    for task_id, outcome in ((good, "SUCCESS"), (bad, "FAILURE")):
        states = states_of(seen, task_id)
        assert states[-1] == outcome and len(states) == len(set(states))  # each change printed once
        assert set(states) <= {"PENDING", "STARTED", outcome}
    assert {record["id"] for record in seen} == {before, good, bad}


def test_follow_selects_like_history_and_stops_at_timeout_with_exit_0(system: dict[str, str]) -> None:
    process = following(system, "--state", "failure", "--timeout", "600")
    lines = Lines(process)
    good, bad = send(system, "1", "2"), send(system, "2", "0")
    seen = lines.until(lambda records: states_of(records, bad))
    assert states_of(seen, bad) == ["FAILURE"]
    wait_for_state(system, good, "SUCCESS")
    status, rest, _ = lines.interrupt()
    assert (status, rest) == (130, "")  # the success was never printed
    ended = run_appctl("task", "history", "--follow", "--timeout", "1", env=system)
    assert (ended.returncode, ended.stdout, ended.stderr) == (0, "", "Following for 1s.\n")
    assert run_appctl("task", "history", "--timeout", "1", env=system).returncode == 2


def wait_for_state(env: dict[str, str], task_id: str, state: str) -> None:
    waited = run_appctl("result", "wait", task_id, "--timeout", str(HANG), "-o", "jsonl", env=env)
    assert json.loads(waited.stdout)["state"] == state


def test_follow_on_a_terminal_prints_one_row_per_change_under_one_header(system: dict[str, str]) -> None:
    terminal = OnTerminal("task", "history", "--follow", env=system, columns=80)
    terminal.wait_for("─" * 80)  # the header: following has begun
    good = send(system, "1", "2")
    terminal.wait_for("SUCCESS")
    run = terminal.finish(interrupt=True)
    assert (run.returncode, run.stderr) == (130, "Following the job history (Ctrl-C stops).\n" + INTERRUPTED)
    assert run.screen.count("state") == 1
    assert f" {good} " in run.screen and "\x1b[32mSUCCESS" in run.screen
