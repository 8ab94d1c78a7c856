"""Bounded waits: an unreachable broker, result backend or database is exit 69, and the command ends.

The subprocess tests use the default bounds; they assert the documented exit code and message, and
that the command ends: run_appctl's timeout is a hang detector several times any bound, never a
measure of the bound (a loaded machine is slow, not wrong). The bench holds the times that
docs/operations.md gives. The in-process variants shorten the timeouts through the environment.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner

from cli import cli
from tests.conftest import APPCTL, HANG, run_appctl
from tests.processes import FaultyProxy, refused_port, silent_server

REPLIES_BEFORE_WAITING = 2  # answers from Redis: the job's state read, then the subscription


def assert_unreachable(result: Any, service: str, masked_url: str) -> None:
    """Exit 69, nothing on stdout, one line on stderr naming the service and its masked URL."""
    assert result.returncode == 69, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"Error: cannot reach the {service} at {masked_url}"), lines[0]
    assert "s3cret" not in result.stderr


@pytest.mark.slow
def test_silent_broker_is_exit_69(env: dict[str, str]) -> None:
    with silent_server() as port:
        env["CELERY_BROKER_URL"] = f"redis://:s3cret@127.0.0.1:{port}/0"
        result = run_appctl("task", "send", "divide", "1", "2", env=env)
    assert_unreachable(result, "broker", f"redis://:***@127.0.0.1:{port}/0")


def test_refused_broker_is_exit_69(env: dict[str, str]) -> None:
    port = refused_port()
    env["CELERY_BROKER_URL"] = f"redis://:s3cret@127.0.0.1:{port}/0"
    result = run_appctl("task", "send", "divide", "1", "2", env=env)
    assert_unreachable(result, "broker", f"redis://:***@127.0.0.1:{port}/0")


@pytest.mark.slow
def test_silent_result_backend_during_result_wait_is_exit_69(env: dict[str, str], app: Any) -> None:
    from project.jobs.send import send_job

    task_id = send_job("divide", [1, 2])  # a real job, known to appctl, on the embedded backend
    with silent_server() as port:
        env["CELERY_RESULT_BACKEND"] = f"redis://:s3cret@127.0.0.1:{port}/0"
        result = run_appctl("result", "wait", task_id, env=env)
    assert_unreachable(result, "result backend", f"redis://:***@127.0.0.1:{port}/0")


@pytest.mark.slow
def test_silent_result_backend_during_send_wait_is_exit_69(env: dict[str, str]) -> None:
    with silent_server() as port:
        env["CELERY_RESULT_BACKEND"] = f"redis://:s3cret@127.0.0.1:{port}/0"
        result = run_appctl("task", "send", "divide", "1", "2", "--wait", env=env)
    assert_unreachable(result, "result backend", f"redis://:***@127.0.0.1:{port}/0")


def test_refused_result_backend_during_send_wait_is_exit_69(env: dict[str, str]) -> None:
    port = refused_port()
    env["CELERY_RESULT_BACKEND"] = f"redis://:s3cret@127.0.0.1:{port}/0"
    result = run_appctl("task", "send", "divide", "1", "2", "--wait", env=env)
    assert_unreachable(result, "result backend", f"redis://:***@127.0.0.1:{port}/0")


@pytest.mark.slow
@pytest.mark.services
@pytest.mark.parametrize("failure", ["go_silent", "die"])
@pytest.mark.parametrize("command", [["result", "wait"], ["task", "send", "divide", "1", "2", "--wait"]], ids=" ".join)
def test_result_backend_failing_during_the_wait_is_exit_69(
    env: dict[str, str], app: Any, redis_url: str, command: list[str], failure: str
) -> None:
    from project.jobs.send import send_job

    args = [*command, send_job("divide", [1, 2])] if command[0] == "result" else command  # no worker: it waits
    redis = urlsplit(redis_url)
    proxy = FaultyProxy(redis.port or 6379)
    env["CELERY_RESULT_BACKEND"] = f"redis://:s3cret@127.0.0.1:{proxy.port}{redis.path}".replace(":s3cret@", "")
    waiting = subprocess.Popen(
        [APPCTL, *args, "--timeout", "3600"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while proxy.replies < REPLIES_BEFORE_WAITING and waiting.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)  # until the backend has answered the command's first reads: it is waiting now
    assert waiting.poll() is None, waiting.communicate()
    getattr(proxy, failure)()
    stdout, stderr = waiting.communicate(timeout=HANG)
    proxy.die()
    assert (waiting.returncode, stdout) == (69, ""), stderr
    *progress, error = stderr.splitlines()  # task send --wait says "Sent ID; waiting up to 3600s." first
    assert error.startswith(f"Error: cannot reach the result backend at redis://127.0.0.1:{proxy.port}"), stderr
    assert [line for line in progress if not line.startswith("Sent ")] == [], stderr


SHORT_BOUNDS = {"APPCTL_CONNECT_TIMEOUT": "1", "APPCTL_SOCKET_TIMEOUT": "1", "APPCTL_PUBLISH_RETRIES": "1"}
VARIANTS = [  # (setting, URL template, service, command)
    ("CELERY_BROKER_URL", "amqp://u:s3cret@127.0.0.1:{port}//", "broker", ["task", "send", "divide", "1", "2"]),
    (
        "CELERY_BROKER_URL",
        "sqla+postgresql://u:s3cret@127.0.0.1:{port}/db",
        "broker",
        ["task", "send", "divide", "1", "2"],
    ),
    ("CELERY_RESULT_BACKEND", "db+postgresql://u:s3cret@127.0.0.1:{port}/db", "result backend", ["result", "wait"]),
    ("DATABASE_URL", "postgresql://u:s3cret@127.0.0.1:{port}/db", "database", ["user", "list"]),
]


@pytest.mark.parametrize("silent", [True, False], ids=["silent", "refused"])
@pytest.mark.parametrize(
    ("setting", "template", "service", "command"), VARIANTS, ids=[v[0] + "-" + v[1][:6] for v in VARIANTS]
)
def test_every_service_is_bounded(
    runner: CliRunner,
    app: Any,
    monkeypatch: pytest.MonkeyPatch,
    silent: bool,
    setting: str,
    template: str,
    service: str,
    command: list[str],
) -> None:
    from project.jobs.send import send_job

    args = [*command, send_job("divide", [1, 2])] if command == ["result", "wait"] else command
    for name, value in SHORT_BOUNDS.items():
        monkeypatch.setenv(name, value)
    with silent_server() as silent_port:
        port = silent_port if silent else refused_port()
        monkeypatch.setenv(setting, template.format(port=port))
        result = runner.invoke(cli, args)
    assert result.exit_code == 69, (result.output, result.exception)
    masked = template.format(port=port).replace("s3cret", "***")  # the URL exactly as written
    assert result.stdout == ""
    assert result.stderr.startswith(f"Error: cannot reach the {service} at {masked}"), result.stderr
    assert "s3cret" not in result.stderr


@pytest.mark.slow
def test_a_worker_stops_on_sigterm_while_its_broker_is_silent(env: dict[str, str], tmp_path: Path) -> None:
    """Celery retried its heartbeat event for ever while Redis was paused, and the warm shutdown waited
    behind it until Redis answered (project/celery_internals/heartbeat_events.py)."""
    import signal

    from tests.processes import kill_group, worker_command, worker_process
    from tests.redis_server import private_redis

    with private_redis(tmp_path) as broker:
        env = {**env, "CELERY_BROKER_URL": broker.url(0), "CELERY_RESULT_BACKEND": broker.url(1)}
        assert run_appctl("db", "upgrade", env=env).returncode == 0
        with worker_process(worker_command("silent-broker", concurrency=1), env, tmp_path / "worker.log") as worker:
            broker.pause()
            try:
                time.sleep(3)  # a heartbeat or two falls in the pause (every 2 s)
                worker.process.send_signal(signal.SIGTERM)  # to the main process: a warm shutdown
                try:
                    status = worker.process.wait(timeout=HANG)
                except subprocess.TimeoutExpired:
                    kill_group(worker.process)
                    pytest.fail(f"the worker did not stop within {HANG} s of SIGTERM:\n{worker.log()}")
            finally:
                broker.resume()
        assert status == 0, worker.log()
