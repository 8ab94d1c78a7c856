"""Scale-out: two worker processes share a queue; the core flow on RabbitMQ."""

from __future__ import annotations

from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import APPCTL, migrated_app, run_appctl
from tests.processes import worker_process

JOBS = 20


def worker_command(name: str) -> list[str]:
    return [APPCTL, "worker", "-n", f"{name}@%h", "-c", "1", "-l", "info", "--without-mingle", "--without-gossip"]


def twenty_jobs_on_two_workers(app: Any, env: dict[str, str], tmp_path: Path) -> None:
    from project.jobs.results import wait_for_results
    from project.jobs.send import send_job

    env["APPCTL_DIVIDE_DELAY"] = "0.3"  # long enough that one worker cannot take every job
    with ExitStack() as workers, app.app_context():
        for name in ("alpha", "beta"):
            workers.enter_context(worker_process(worker_command(name), env, tmp_path / f"{name}.log"))
        ids = [send_job("divide", [n, 4]) for n in range(JOBS)]
        results = wait_for_results(ids, timeout=120)
    assert [r["state"] for r in results] == ["SUCCESS"] * JOBS
    assert [r["result"] for r in results] == [n / 4 for n in range(JOBS)]
    done_by = Counter(r["worker"].split("@")[0] for r in results)
    assert set(done_by) == {"alpha", "beta"}, done_by


@pytest.mark.slow
@pytest.mark.services
def test_two_workers_share_a_redis_queue(
    env: dict[str, str], redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = migrated_app(monkeypatch, env, CELERY_BROKER_URL=redis_url, CELERY_RESULT_BACKEND=redis_url)
    twenty_jobs_on_two_workers(app, env, tmp_path)


@pytest.mark.slow
def test_two_workers_share_the_embedded_queue(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    twenty_jobs_on_two_workers(migrated_app(monkeypatch, env), env, tmp_path)


@pytest.fixture
def rabbitmq_env(env: dict[str, str], amqp_url: str) -> Any:
    """The embedded default with RabbitMQ as the broker; the test's queue is deleted afterwards."""
    from kombu import Connection

    env["CELERY_BROKER_URL"] = amqp_url
    yield env
    with Connection(amqp_url, connect_timeout=5) as connection:
        connection.default_channel.queue_delete(env["APPCTL_QUEUE"])


@pytest.mark.slow
@pytest.mark.services
def test_the_core_flow_with_rabbitmq_as_broker(rabbitmq_env: dict[str, str], tmp_path: Path) -> None:
    env = rabbitmq_env
    assert run_appctl("db", "upgrade", env=env).returncode == 0
    sent = run_appctl("task", "send", "divide", "3", "4", env=env)
    assert sent.returncode == 0, sent.stderr
    with worker_process(worker_command("rabbit"), env, tmp_path / "worker.log"):
        waited = run_appctl("result", "wait", sent.stdout.strip(), "--timeout", "60", env=env)
        assert (waited.returncode, waited.stdout) == (0, "0.75\n"), waited.stderr
        both = run_appctl("task", "send", "divide", "1", "0", "--wait", "--timeout", "60", env=env)
        assert (both.returncode, both.stdout) == (1, "")
        assert "ZeroDivisionError: division by zero" in both.stderr
        again = run_appctl("task", "send", "divide", "1", "8", "--wait", "--timeout", "60", env=env)
        assert (again.returncode, again.stdout) == (0, "0.125\n"), again.stderr
