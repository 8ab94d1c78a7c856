"""Jobs sent in bulk run on an unchanged, real worker: on the embedded broker and on Redis."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from project.errors import InvalidInput
from project.jobs.results import wait_for_results
from project.jobs.send import send_from_lines
from tests.conftest import migrated_app, thread_worker


def job_lines(count: int) -> bytes:
    """``count`` divide jobs, alternating the two shapes a line may take."""
    lines = [json.dumps([i, 4]) if i % 2 else json.dumps({"args": [i], "kwargs": {"y": 4}}) for i in range(count)]
    return ("\n".join(lines) + "\n").encode()


def send_all(data: bytes) -> list[str]:
    total, batches = send_from_lines("divide", io.BytesIO(data))
    ids = [job.id for jobs in batches for job in jobs]
    assert total == len(ids)
    return ids


def assert_all_ran(ids: list[str]) -> None:
    states = wait_for_results(ids, timeout=60)
    assert [state["state"] for state in states] == ["SUCCESS"] * len(ids)
    assert [state["result"] for state in states] == [i / 4 for i in range(len(ids))]


def test_bulk_jobs_run_on_the_embedded_broker(worker: Any) -> None:
    ids = send_all(job_lines(60))
    assert len(set(ids)) == 60
    assert_all_ran(ids)


@pytest.fixture
def redis_worker(env: dict[str, str], redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The app on Redis (broker and result backend) with a real worker thread."""
    flask_app = migrated_app(monkeypatch, CELERY_BROKER_URL=redis_url, CELERY_RESULT_BACKEND=redis_url)
    with flask_app.app_context(), thread_worker(flask_app.extensions["celery"]) as celery:
        yield celery


@pytest.mark.services
def test_bulk_jobs_run_on_redis(redis_worker: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("project.jobs.job_file.READ_SIZE", 1000)  # many batches of a few jobs
    ids = send_all(job_lines(300))
    assert_all_ran(ids)


def test_a_bad_line_in_a_file_sends_nothing(app: Any) -> None:
    data = job_lines(5).replace(b"[3, 4]", b"[3, 4, 5]")
    with pytest.raises(InvalidInput, match=r"^line 4: arguments do not fit divide.*; nothing was sent$"):
        send_from_lines("divide", io.BytesIO(data))
