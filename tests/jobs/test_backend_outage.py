"""No result lost to a result-backend outage: a private Redis backend paused or restarted while
a prefork worker finishes jobs; every job ends SUCCESS, in the backend and in the job history."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import APPCTL, migrated_app, run_appctl
from tests.jobs.waiting import wait_for
from tests.processes import worker_process
from tests.redis_server import RedisServer, private_redis

JOBS = 20
OUTAGE = 20.0  # seconds the backend stays paused
FINISHED = ("SUCCESS", "FAILURE", "REVOKED")


def pause_for_a_while(backend: RedisServer) -> None:
    backend.pause()
    try:
        time.sleep(OUTAGE)  # the outage itself, not a wait for a condition
    finally:
        backend.resume()


def restart(backend: RedisServer) -> None:
    backend.kill()
    time.sleep(5)  # down for a while: finishing jobs meet refused connections
    backend.start()


def history_states(app: Any, ids: list[str]) -> dict[str, dict[str, Any]]:
    from project.jobs.history.read import find_job

    with app.app_context():
        return {task_id: find_job(task_id) or {} for task_id in ids}


def finish_jobs_through(outage: Callable[[RedisServer], None], durable: bool, setup: dict[str, Any]) -> None:
    """Send JOBS divide jobs, run ``outage`` on the backend once one started, check every outcome."""
    from project.jobs.send import send_job

    env, monkeypatch, tmp_path, broker_url = setup["env"], setup["monkeypatch"], setup["tmp_path"], setup["broker"]
    with private_redis(tmp_path, durable=durable) as backend:
        settings = {"CELERY_BROKER_URL": broker_url, "CELERY_RESULT_BACKEND": backend.url(), "APPCTL_DIVIDE_DELAY": "2"}
        app = migrated_app(monkeypatch, env, **settings)
        command = [APPCTL, "worker", "-c", "2", "-P", "prefork", "-l", "info", "--without-mingle", "--without-gossip"]
        with worker_process(command, env, tmp_path / "worker.log", ready_timeout=120) as worker:
            with app.app_context():
                ids = [send_job("divide", [n, 4]) for n in range(JOBS)]

            def started() -> bool:
                return any(r.get("state") == "STARTED" for r in history_states(app, ids).values())

            wait_for(started, timeout=120, what="a job to start")
            outage(backend)

            def all_finished() -> bool:
                return all(r.get("state") in FINISHED for r in history_states(app, ids).values())

            with suppress(AssertionError):  # the assertions below show what did not finish
                wait_for(all_finished, timeout=600, what="every job to finish")
            records, log = history_states(app, ids), worker.log()
        assert {task_id: r["state"] for task_id, r in records.items()} == dict.fromkeys(ids, "SUCCESS"), log
        assert [records[task_id]["result"] for task_id in ids] == [n / 4 for n in range(JOBS)]
        import redis

        client = redis.Redis.from_url(backend.url(), socket_timeout=10)
        stored = [json.loads(client.get(f"celery-task-meta-{task_id}") or "{}") for task_id in ids]
        assert [(meta.get("status"), meta.get("result")) for meta in stored] == [
            ("SUCCESS", n / 4) for n in range(JOBS)
        ], log
        shown = run_appctl("task", "status", *ids, "-o", "json", env=env, timeout=120)
        assert shown.returncode == 0, shown.stderr
        assert [(job["state"], job["result"]) for job in json.loads(shown.stdout)] == [
            ("SUCCESS", n / 4) for n in range(JOBS)
        ]
        listed = run_appctl("task", "history", "--state", "FAILURE", "-o", "json", env=env, timeout=120)
        assert listed.returncode == 0, listed.stderr
        assert json.loads(listed.stdout) == []


@pytest.fixture
def setup(env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_url: str) -> dict[str, Any]:
    """The pieces every outage case needs; the broker is the shared Redis, the backend a private one."""
    return {"env": env, "monkeypatch": monkeypatch, "tmp_path": tmp_path, "broker": redis_url}


@pytest.mark.slow
@pytest.mark.services
@pytest.mark.timeout(900)
def test_no_result_is_lost_while_the_redis_backend_is_paused(setup: dict[str, Any]) -> None:
    finish_jobs_through(pause_for_a_while, durable=False, setup=setup)


@pytest.mark.slow
@pytest.mark.services
@pytest.mark.timeout(900)
def test_no_result_is_lost_while_the_redis_backend_restarts(setup: dict[str, Any]) -> None:
    finish_jobs_through(restart, durable=True, setup=setup)
