"""Reading, filtering and pruning the job history; the write rules that keep it consistent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from project.errors import InvalidInput, NotFound
from project.jobs.history import values, write_orm
from project.jobs.history.prune import delete_jobs
from project.jobs.history.read import find_job, list_history
from project.jobs.history.select import JobFilter, select_jobs
from project.jobs.results import job_status, wait_for_results


@pytest.fixture
def now() -> datetime:
    """The time the test runs, not when it was collected: the rows' ages and the cutoffs count from it."""
    return datetime.now(UTC)


def record(task_id: str, name: str, state: str, sent_at: datetime, **fields: Any) -> None:
    """A history row sent at ``sent_at``, then moved to ``state``."""
    write_orm.OrmHistory().record_sent([values.sent_row(task_id, name, [1], {}, "q", sent_at=sent_at)])
    if state != "PENDING":
        retries = fields.pop("retries", 0)
        write_orm.OrmHistory().record_progress([values.progress_row(task_id, state, retries, fields)])


@pytest.fixture
def jobs(app: Any, now: datetime) -> None:
    record("a", "project.users.tasks.divide", "SUCCESS", now - timedelta(days=40), result=1.0)
    record("b", "project.users.tasks.divide", "FAILURE", now - timedelta(hours=5), error_type="ZeroDivisionError")
    record("c", "project.other.tasks.report", "SUCCESS", now - timedelta(minutes=30), result="ok")
    record("d", "project.users.tasks.divide", "PENDING", now - timedelta(minutes=1))


def ids(limit: int | None = 100, **filters: Any) -> list[str]:
    return [job["id"] for job in list_history(JobFilter(**filters), limit)]


def prune(older_than: timedelta, size: int = 1000) -> int:
    """Delete the jobs sent longer ago than ``older_than``, ``size`` at a time, as ``task prune`` does."""
    old = JobFilter().sent_before(datetime.now(UTC) - older_than)
    selection = select_jobs(old)
    deleted = [job for chunk in selection.chunks(size=size) for job in delete_jobs(old, [r["id"] for r in chunk])]
    assert len(deleted) == selection.count
    return len(deleted)


def test_history_lists_newest_first_and_filters(jobs: None, now: datetime) -> None:
    assert ids() == ["d", "c", "b", "a"]
    assert ids(states=("failure",)) == ["b"]
    assert ids(states=("SUCCESS", "PENDING")) == ["d", "c", "a"]
    assert ids(name="divide") == ["d", "b", "a"]
    assert ids(name="project.other.tasks.report") == ["c"]
    assert ids(name="tasks.report") == ["c"]
    assert ids(name="vide") == []
    assert ids(since=now - timedelta(hours=1)) == ["d", "c"]
    assert ids(limit=2) == ["d", "c"]


def test_an_unknown_state_is_invalid_input(jobs: None) -> None:
    with pytest.raises(InvalidInput, match="unknown state 'DONE'"):
        JobFilter(states=("done",))


def test_prune_deletes_only_jobs_sent_before_the_cutoff(jobs: None) -> None:
    assert prune(timedelta(days=30)) == 1
    assert ids() == ["d", "c", "b"]
    assert prune(timedelta(minutes=10)) == 2
    assert ids() == ["d"]


def test_prune_works_in_chunks(app: Any, now: datetime) -> None:
    for number in range(7):
        record(f"old-{number}", "divide", "SUCCESS", now - timedelta(days=2))
    assert prune(timedelta(days=1), size=3) == 7
    assert ids() == []


def test_a_worker_that_records_first_is_not_overwritten_by_the_producer(app: Any) -> None:
    started = values.progress_row("fast", "STARTED", 0, {"name": "divide", "args": [1, 2], "worker": "w@h"})
    write_orm.OrmHistory().record_progress([started])
    write_orm.OrmHistory().record_sent([values.sent_row("fast", "divide", [1, 2], {}, "q")])
    job = find_job("fast")
    assert job is not None
    assert (job["state"], job["worker"], job["queue"], job["sent_at"] is not None) == ("STARTED", "w@h", "q", True)


def test_a_retry_publish_keeps_the_first_sent_time(app: Any, now: datetime) -> None:
    record("r", "divide", "RETRY", now - timedelta(minutes=10), retries=1)
    write_orm.OrmHistory().record_sent([values.sent_row("r", "divide", [1], {}, "q")])
    job = find_job("r")
    assert job is not None
    assert (job["state"], job["retries"]) == ("RETRY", 1)
    assert job["sent_at"] == (now - timedelta(minutes=10)).isoformat()


def test_results_are_bounded_in_size() -> None:
    assert values.bounded_json([1, "two"]) == [1, "two"]
    big = values.bounded_json("x" * 10_000)
    assert (big["truncated"], big["bytes"], len(big["preview"])) == (True, 10_002, values.PREVIEW_LENGTH)
    assert values.bounded_json({1, 2}) == "{1, 2}"  # not JSON: kept as its repr


def test_an_id_never_sent_is_not_found_at_once(app: Any) -> None:
    with pytest.raises(NotFound, match="no job 'never-sent' is known to the job history or the result backend"):
        job_status("never-sent")
    with pytest.raises(NotFound, match="no job 'never-sent' is known to the job history or the result backend"):
        wait_for_results(["never-sent"], timeout=60)


def test_an_id_the_history_knows_waits_for_its_result(app: Any, now: datetime) -> None:
    record("queued", "divide", "PENDING", now - timedelta(seconds=1))
    assert job_status("queued")["state"] == "PENDING"
    with pytest.raises(Exception, match="timed out"):
        wait_for_results(["queued"], timeout=0.2)


def test_follow_prints_a_job_that_changed_between_its_two_reads_once(
    app: Any, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A poll reads how jobs look, then the changed ones whole: a worker's commit between the two is
    printed once, as the second read saw it, and not again at the next poll."""
    from project.jobs.history import follow

    monkeypatch.setattr(follow, "FOLLOW_INTERVAL", 0.05)
    read_whole = follow._Watcher._full_rows

    def worker_finishes_first(watcher: Any, conn: Any, chunk: list[str]) -> list[Any]:
        write_orm.OrmHistory().record_progress([values.progress_row("j", "SUCCESS", 0, {"result": 1})])
        return read_whole(watcher, conn, chunk)

    changes = follow.follow_history(timeout=1.0)
    assert next(changes) == []
    record("j", "project.users.tasks.divide", "STARTED", now)
    monkeypatch.setattr(follow._Watcher, "_full_rows", worker_finishes_first)
    printed = [job["state"] for batch in changes for job in batch if job["id"] == "j"]
    assert printed == ["SUCCESS"]
