"""``appctl status``: exit 0 only when healthy, and bounded in time when every service is down."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli import cli
from tests.conftest import run_appctl
from tests.jobs.waiting import wait_for
from tests.processes import silent_server


def test_healthy_with_a_worker_is_exit_0(runner: CliRunner, worker: Any) -> None:
    result = runner.invoke(cli, ["status", "-o", "json"])
    assert (result.exit_code, result.stderr) == (0, "")
    assert [(c["check"], c["ok"]) for c in json.loads(result.stdout)] == [
        ("database", True),
        ("broker", True),
        ("result backend", True),
        ("workers", True),
    ]


def test_no_worker_is_exit_1_and_says_which_check_failed(runner: CliRunner, app: Any) -> None:
    result = runner.invoke(cli, ["status"])
    queue = app.config["CELERY_TASK_DEFAULT_QUEUE"]
    assert result.exit_code == 1
    assert result.stdout.splitlines()[-1] == f"workers\tfalse\tno worker consumes queue {queue}\t" + json.dumps(
        {"queue": queue, "workers": []}
    )
    assert result.stderr == "Error: not healthy: workers\n"


def test_a_database_behind_head_says_which_command_mends_it(runner: CliRunner, app: Any) -> None:
    from project.migrations import downgrade_database

    with app.app_context():
        downgrade_database("0001")
    result = runner.invoke(cli, ["status", "-o", "json"])
    database = json.loads(result.stdout)[0]
    assert (result.exit_code, database["ok"]) == (1, False)
    assert database["detail"].endswith("migration(s) pending (run `appctl db upgrade`)")
    assert "remedy" not in database


def test_table_output(runner: CliRunner, app: Any) -> None:
    result = runner.invoke(cli, ["--no-color", "status", "-o", "table"])
    assert result.exit_code == 1
    assert "result backend" in result.stdout and "no worker consumes queue" in result.stdout


def test_every_service_down_is_exit_1(env: dict[str, str]) -> None:
    dead = {
        "DATABASE_URL": "postgresql://appctl:s3cret@127.0.0.1:9/appctl",
        "CELERY_BROKER_URL": "redis://:s3cret@127.0.0.1:9/0",
        "CELERY_RESULT_BACKEND": "redis://:s3cret@127.0.0.1:9/1",
    }
    result = run_appctl("status", "-o", "json", env={**env, **dead})
    checks = json.loads(result.stdout)
    assert (result.returncode, [c["ok"] for c in checks]) == (1, [False, False, False, False])
    assert checks[0]["detail"].startswith("cannot reach the database at postgresql://appctl:***@127.0.0.1:9/appctl")
    assert checks[1]["detail"].startswith("cannot reach the broker at redis://:***@127.0.0.1:9/0")
    assert checks[2]["detail"].startswith("cannot reach the result backend at redis://:***@127.0.0.1:9/1")
    assert "s3cret" not in result.stdout + result.stderr
    assert result.stderr == "Error: not healthy: database, broker, result backend, workers\n"


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with silent_server() as port:
        yield port


def test_services_that_never_answer_do_not_hold_it_up(env: dict[str, str], silent_port: int) -> None:
    silent = f"redis://127.0.0.1:{silent_port}"
    services = {"CELERY_BROKER_URL": f"{silent}/0", "CELERY_RESULT_BACKEND": f"{silent}/1"}
    assert run_appctl("db", "upgrade", env=env).returncode == 0
    result = run_appctl("status", "-o", "json", env={**env, **services})
    checks = {c["check"]: c for c in json.loads(result.stdout)}
    assert (result.returncode, checks["database"]["ok"], checks["broker"]["ok"]) == (1, True, False)
    assert checks["broker"]["detail"] in ("no answer within 3s", f"cannot reach the broker at {silent}/0: Timeout")


@pytest.fixture
def amqp_worker(env: dict[str, str], amqp_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The app on RabbitMQ (results in the embedded database backend) with a real worker thread."""
    from tests.conftest import migrated_app, thread_worker

    flask_app = migrated_app(monkeypatch, CELERY_BROKER_URL=amqp_url)
    with flask_app.app_context(), thread_worker(flask_app.extensions["celery"]) as celery:
        yield celery


@pytest.mark.services
def test_status_and_revoke_on_rabbitmq(runner: CliRunner, amqp_worker: Any) -> None:
    for _ in range(10):  # a loaded machine may answer a ping after status stopped listening: ask again
        result = runner.invoke(cli, ["status", "-o", "json"])
        checks = {check["check"]: check for check in json.loads(result.stdout)}
        assert (result.exit_code, [check["ok"] for check in checks.values()]) == (0, [True] * 4), result.output
        # the worker with a heartbeat in this test's database; others on the shared RabbitMQ answer pings too
        [alive] = [worker for worker in checks["workers"]["data"]["workers"] if worker["queues"] is not None]
        if alive.get("ping"):
            break
    assert alive.get("ping") is True  # RabbitMQ carries Celery's broadcast: the worker answered its ping
    task_id = runner.invoke(cli, ["task", "send", "divide", "1", "2", "--countdown", "60"]).stdout.strip()
    revoked = runner.invoke(cli, ["task", "revoke", task_id, "-o", "json"])
    assert (revoked.exit_code, json.loads(revoked.stdout)[0]["state"]) == (0, "REVOKED")


def test_a_worker_of_another_app_on_the_same_broker_does_not_serve_this_one(
    env: dict[str, str], redis_url: str, tmp_path: Path
) -> None:
    """It answers the broadcast (its heartbeats go to its own database): its queues say it is not ours."""
    from tests.processes import worker_command, worker_process

    ours = {**env, "CELERY_BROKER_URL": redis_url, "CELERY_RESULT_BACKEND": redis_url}
    theirs = {**ours, "APPCTL_DATA_DIR": str(tmp_path / "theirs"), "APPCTL_QUEUE": f"theirs-{uuid.uuid4().hex[:8]}"}
    for environment in (ours, theirs):
        assert run_appctl("db", "upgrade", env=environment).returncode == 0
    with worker_process(worker_command("theirs", concurrency=1), theirs, tmp_path / "theirs.log"):
        status = run_appctl("status", "-o", "json", env=ours)
    workers = json.loads(status.stdout)[-1]
    assert (status.returncode, workers["ok"]) == (1, False)
    assert workers["detail"].startswith(f"no worker consumes queue {ours['APPCTL_QUEUE']}")
    answering = [worker for worker in workers["data"]["workers"] if worker.get("ping")]
    assert [worker["queues"] for worker in answering if worker["name"].startswith("theirs@")] == [
        [theirs["APPCTL_QUEUE"]]
    ]


def test_a_worker_on_another_broker_does_not_serve_this_app(
    env: dict[str, str], redis_url: str, tmp_path: Path
) -> None:
    """Same database, same queue, another Redis database as broker (a typo): its heartbeat says which
    broker it consumes, so it does not count, and jobs sent here would wait for ever."""
    from tests.processes import worker_command, worker_process

    theirs = {**env, "CELERY_BROKER_URL": redis_url, "CELERY_RESULT_BACKEND": redis_url}
    base, number = redis_url.rsplit("/", 1)
    ours = {**theirs, "CELERY_BROKER_URL": f"{base}/{(int(number or 0) + 1) % 16}"}
    assert run_appctl("db", "upgrade", env=ours).returncode == 0
    with worker_process(worker_command("elsewhere", concurrency=1), theirs, tmp_path / "worker.log"):
        wait_for(lambda: run_appctl("status", env=theirs).returncode == 0, what="the worker to serve its own broker")
        status = run_appctl("status", "-o", "json", env=ours)
    workers = json.loads(status.stdout)[-1]
    assert (status.returncode, workers["ok"]) == (1, False), workers
    assert workers["detail"] == f"no worker consumes queue {ours['APPCTL_QUEUE']} (1 on another broker)"
