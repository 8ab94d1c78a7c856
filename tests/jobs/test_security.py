"""Security: JSON only, registered tasks only, masked passwords, literal SQL, private files."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli import cli
from tests.conftest import APPCTL, run_appctl
from tests.processes import kill_group, refused_port

DIVIDE = "project.users.tasks.divide"


class LeavesAMark:
    """Unpickling this runs ``touch PATH``: the classic pickle attack."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.path}",))


def wait_for_success(app: Any, task_id: str) -> None:
    from project.jobs.results import wait_for_results

    [state] = wait_for_results([task_id], timeout=60)
    assert state["state"] == "SUCCESS", state


def test_a_pickled_message_is_refused_and_never_runs(app: Any, worker: Any, tmp_path: Path) -> None:
    from project.jobs.send import send_job

    mark = tmp_path / "unpickled"
    pickled = worker.send_task(DIVIDE, args=[LeavesAMark(mark), 2], serializer="pickle")
    wait_for_success(app, send_job("divide", [1, 2]))  # a JSON job sent after it ran: the worker read past it
    assert not mark.exists()
    assert app.extensions["celery"].AsyncResult(pickled.id).state == "PENDING"  # never started, never stored


def publish_pickled_with_kombu(broker_url: str, queue: str, mark: Path) -> str:
    """Put on QUEUE, with kombu alone, a Celery (protocol 2) divide message serialized with pickle."""
    import uuid

    from kombu import Connection

    task_id = str(uuid.uuid4())
    headers = {"lang": "py", "task": DIVIDE, "id": task_id, "root_id": task_id, "argsrepr": "", "kwargsrepr": ""}
    body = ([LeavesAMark(mark), 2], {}, {"callbacks": None, "errbacks": None, "chain": None, "chord": None})
    with Connection(broker_url) as connection:
        producer = connection.Producer(serializer="pickle")
        producer.publish(body, routing_key=queue, exchange="", headers=headers, retry=False)
    return task_id


@pytest.mark.slow
@pytest.mark.services
def test_a_worker_process_refuses_a_pickled_message_put_on_redis(
    env: dict[str, str], redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from project import create_app
    from project.jobs.send import send_job
    from project.migrations import upgrade_database
    from tests.processes import worker_process

    for name in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"):
        monkeypatch.setenv(name, redis_url)
        env[name] = redis_url
    mark = tmp_path / "unpickled"
    publish_pickled_with_kombu(redis_url, env["APPCTL_QUEUE"], mark)
    app = create_app("testing")
    command = [APPCTL, "worker", "-l", "info", "-c", "1", "--without-mingle", "--without-gossip"]
    with app.app_context():
        upgrade_database()
    with app.app_context(), worker_process(command, env, tmp_path / "worker.log") as worker:
        wait_for_success(app, send_job("divide", [1, 2]))
        log = worker.log()
    assert not mark.exists()
    assert "untrusted content of type pickle" in log


def test_an_unregistered_task_message_is_refused_and_never_runs(app: Any, worker: Any, tmp_path: Path) -> None:
    from project.jobs.send import send_job

    mark = tmp_path / "ran"
    worker.send_task("os.system", args=[f"touch {mark}"])  # bypassing appctl, which refuses the name
    wait_for_success(app, send_job("divide", [1, 2]))
    time.sleep(0.5)
    assert not mark.exists()


def test_only_registered_tasks_can_be_sent(runner: CliRunner, app: Any) -> None:
    result = runner.invoke(cli, ["task", "send", "os.system", "touch /tmp/appctl-pwned"])
    assert (result.exit_code, result.stdout) == (3, "")
    assert result.stderr.startswith("Error: no task 'os.system'")


PASSWORDED = {
    "DATABASE_URL": "postgresql://app:s3cret@127.0.0.1:{port}/app",
    "CELERY_BROKER_URL": "redis://:s3cret@127.0.0.1:{port}/0",
    "CELERY_RESULT_BACKEND": "redis://:s3cret@127.0.0.1:{port}/0",
}


@pytest.mark.parametrize(
    "args",
    [
        ["--debug", "user", "list"],
        ["--debug", "task", "send", "divide", "1", "2"],
        ["--debug", "result", "wait", "made-up-id"],
        ["--debug", "status"],
        ["status", "-o", "json"],
    ],
    ids=" ".join,
)
def test_passwords_are_masked_even_in_debug_tracebacks(env: dict[str, str], args: list[str]) -> None:
    port = refused_port()
    env.update({name: url.format(port=port) for name, url in PASSWORDED.items()})
    result = run_appctl(*args, env=env)
    assert result.returncode != 0
    assert "s3cret" not in result.stdout + result.stderr
    assert ":***@127.0.0.1" in result.stdout + result.stderr
    if args[0] == "--debug" and args[1] != "status":
        assert "Traceback (most recent call last)" in result.stderr


ENDS_OF_START = ("Connected to", "Cannot connect to")  # the worker's INFO and ERROR lines naming the broker


@pytest.mark.slow
def test_the_worker_banner_masks_the_broker_password(env: dict[str, str], redis_url: str, tmp_path: Path) -> None:
    env["CELERY_BROKER_URL"] = redis_url.replace("redis://", "redis://:s3cret@")  # a wrong password: AUTH fails
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [APPCTL, "worker", "-l", "info"], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 120
        while not any(end in log.read_text() for end in ENDS_OF_START) and time.monotonic() < deadline:
            time.sleep(0.2)  # the banner, then the broker named again: connected, or not
    finally:
        kill_group(worker)
    assert "transport:" in log.read_text()
    # Celery masks the banner's password as **; appctl's masked streams make it *** before Celery can.
    assert any(f"{end} redis://:{stars}@" in log.read_text() for end in ENDS_OF_START for stars in ("**", "***"))
    assert "s3cret" not in log.read_text()


SQL = "x';DROP/**/TABLE/**/users;--"  # usernames have no spaces; comments stand in for them


def test_sql_looking_input_is_stored_literally(runner: CliRunner, app: Any) -> None:
    added = runner.invoke(cli, ["user", "add", "-o", "json", "--", SQL, "robert@example.com"])
    assert added.exit_code == 0, added.stderr
    shown = runner.invoke(cli, ["user", "show", "-o", "json", "--", SQL])
    assert json.loads(shown.stdout)["username"] == SQL
    runner.invoke(cli, ["user", "add", "percent%", "p@example.com"])
    for pattern, expected in (("%", ["percent%"]), ("_", []), ("' OR '1'='1", [])):
        found = runner.invoke(cli, ["user", "list", "--search", pattern, "-o", "json"])
        assert [u["username"] for u in json.loads(found.stdout)] == expected, pattern
    assert len(json.loads(runner.invoke(cli, ["user", "list", "-o", "json"]).stdout)) == 2


def test_sql_looking_task_arguments_reach_the_job_literally(runner: CliRunner, app: Any) -> None:
    sent = runner.invoke(cli, ["task", "send", "divide", SQL, "2"])
    assert sent.exit_code == 0, sent.stderr
    status = runner.invoke(cli, ["task", "status", sent.stdout.strip(), "-o", "json"])
    assert json.loads(status.stdout)[0]["args"] == [SQL, 2]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_data_directory_and_its_files_are_private_whatever_the_umask(env: dict[str, str]) -> None:
    def run_with_open_umask(*args: str) -> None:
        command = [APPCTL, *args]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, umask=0)
        assert done.returncode == 0, done.stderr

    data = Path(env["APPCTL_DATA_DIR"])
    run_with_open_umask("db", "upgrade")
    run_with_open_umask("user", "add", "alice", "alice@example.com")
    run_with_open_umask("task", "send", "divide", "1", "2")
    assert mode(data) == 0o700
    files = sorted(data.iterdir())
    assert {f.name for f in files} >= {"app.sqlite", "broker.sqlite", "results.sqlite"}
    assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}


def test_files_written_by_a_worker_stay_private(app: Any, worker: Any, env: dict[str, str]) -> None:
    from project.jobs.send import send_job

    wait_for_success(app, send_job("divide", [1, 2]))
    data = Path(env["APPCTL_DATA_DIR"])
    assert mode(data) == 0o700
    assert {f.name: mode(f) for f in data.iterdir()} == {f.name: 0o600 for f in data.iterdir()}
