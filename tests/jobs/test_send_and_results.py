"""project/jobs/send.py and results.py: publishing, reading states and bounded waits, with a real worker."""

from __future__ import annotations

from typing import Any

import pytest

from project.errors import InvalidInput, JobFailed, NotFound, TimedOut
from project.jobs.names import check_task_id
from project.jobs.results import job_state, require_success, wait_for_results
from project.jobs.send import send_job


def test_send_and_wait(worker: Any) -> None:
    ids = [send_job("divide", [1, 2]), send_job("divide", [1], {"y": 4}), send_job("divide", [1, 0])]
    states = wait_for_results(ids, timeout=30)
    assert [(s["id"], s["state"], s["result"]) for s in states] == [
        (ids[0], "SUCCESS", 0.5),
        (ids[1], "SUCCESS", 0.25),
        (ids[2], "FAILURE", None),
    ]
    assert states[2]["error"] == "ZeroDivisionError: division by zero"
    assert all(s["name"] == "project.users.tasks.divide" and s["worker"] for s in states)
    require_success(states[:2])
    with pytest.raises(JobFailed, match=f"^task {ids[2]} failure: ZeroDivisionError: division by zero$"):
        require_success(states)


def test_a_job_not_run_yet_is_pending(app: Any) -> None:
    task_id = send_job("divide", [1, 2])
    state = job_state(task_id)
    assert (state["id"], state["state"], state["result"], state["error"]) == (task_id, "PENDING", None, None)
    with pytest.raises(TimedOut, match=f"^timed out after 0.2s waiting for {task_id}$"):
        wait_for_results([task_id], timeout=0.2)


def test_bad_sends_raise_before_publishing(app: Any) -> None:
    with pytest.raises(NotFound):
        send_job("nope")
    with pytest.raises(InvalidInput):
        send_job("divide", [1])


@pytest.mark.parametrize("task_id", ["", "with\ttab", "x" * 256, "new\nline", "\udcff", "nbsp\xa0"])
def test_impossible_task_ids(task_id: str) -> None:
    with pytest.raises(InvalidInput):
        check_task_id(task_id)


@pytest.mark.parametrize("task_id", ["with space", "my id/äöü", "x" * 255, "01a22e0a-b54b-74c4-b00a-29df348a207b"])
def test_any_printable_id_celery_could_be_given_is_a_task_id(task_id: str) -> None:
    check_task_id(task_id)
