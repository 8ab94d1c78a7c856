"""No lost jobs: SIGKILL a worker's whole process group mid-jobs, restart it, every job completes."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import migrated_app
from tests.processes import kill_group, start_worker, worker_command, worker_process

JOBS = 6
REDELIVERY = {"CELERY_VISIBILITY_TIMEOUT": "4", "APPCTL_RESTORE_INTERVAL": "1", "APPCTL_DIVIDE_DELAY": "1.5"}


def send_jobs(app: Any) -> list[str]:
    from project.jobs.send import send_job

    with app.app_context():
        return [send_job("divide", [n, 2]) for n in range(JOBS)]


def states(app: Any, ids: list[str]) -> list[str]:
    from project.jobs.results import job_state

    with app.app_context():
        return [job_state(task_id)["state"] for task_id in ids]


def wait_until_started(app: Any, ids: list[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while "STARTED" not in states(app, ids):
        assert time.monotonic() < deadline, "no job started"
        time.sleep(0.1)


def kill_mid_jobs_then_restart(app: Any, env: dict[str, str], tmp_path: Path) -> None:
    from project.jobs.results import wait_for_results

    ids = send_jobs(app)
    first = start_worker(worker_command("first"), env, tmp_path / "first.log")
    try:
        wait_until_started(app, ids)
    finally:
        kill_group(first)
    unfinished = [task_id for task_id, state in zip(ids, states(app, ids), strict=True) if state != "SUCCESS"]
    assert unfinished, "the worker finished every job before it was killed"
    with worker_process(worker_command("second"), env, tmp_path / "second.log"), app.app_context():
        results = wait_for_results(ids, timeout=90)
    assert [r["state"] for r in results] == ["SUCCESS"] * JOBS, (tmp_path / "second.log").read_text()
    assert [r["result"] for r in results] == [n / 2 for n in range(JOBS)]


def build_app(env: dict[str, str], monkeypatch: pytest.MonkeyPatch, **settings: str) -> Any:
    return migrated_app(monkeypatch, env, **REDELIVERY, **settings)


@pytest.mark.slow
def test_embedded_broker_redelivers_the_jobs_of_a_killed_worker(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    kill_mid_jobs_then_restart(build_app(env, monkeypatch), env, tmp_path)


@pytest.mark.slow
@pytest.mark.services
def test_redis_redelivers_the_jobs_of_a_killed_worker(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_url: str
) -> None:
    app = build_app(env, monkeypatch, CELERY_BROKER_URL=redis_url, CELERY_RESULT_BACKEND=redis_url)
    kill_mid_jobs_then_restart(app, env, tmp_path)
