"""project/jobs/retry.py: jobs sent again from the history, with a real worker, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from project.errors import Conflict, InvalidInput, NotFound
from project.extensions import db
from project.jobs.history.models import jobs
from project.jobs.history.values import RESULT_LIMIT, utcnow
from project.jobs.results import wait_for_results
from project.jobs.retry import RETRY_FIELDS, retry_jobs
from project.jobs.send import send_job


@pytest.fixture
def history_app(database_env: Any) -> Any:
    """The app on SQLite or PostgreSQL, migrated, with a worker thread consuming its queue."""
    from project import create_app
    from project.migrations import upgrade_database
    from tests.conftest import thread_worker

    flask_app = create_app("testing")
    with flask_app.app_context():
        upgrade_database()
        with thread_worker(flask_app.extensions["celery"]):
            yield flask_app


def row(task_id: str) -> Any:
    with db.engine.connect() as conn:
        return conn.execute(select(jobs).where(jobs.c.id == task_id)).mappings().one()


def test_a_failed_job_is_sent_again_with_its_arguments_and_queue_linked_both_ways(history_app: Any) -> None:
    failed = send_job("divide", [1], {"y": 0})
    wait_for_results([failed], timeout=60)
    [copy] = retry_jobs([failed])
    assert set(copy) == set(RETRY_FIELDS)
    assert (copy["retry_of"], copy["name"], copy["state"]) == (failed, "project.users.tasks.divide", "PENDING")
    assert copy["queue"] == row(failed)["queue"] and copy["queue"]
    [outcome] = wait_for_results([copy["id"]], timeout=60)
    assert outcome["state"] == "FAILURE"  # the same arguments: the same division by zero
    new, old = row(copy["id"]), row(failed)
    assert (new["args"], new["kwargs"], new["queue"], new["retry_of"]) == ([1], {"y": 0}, old["queue"], failed)
    assert (old["retried_by"], old["state"]) == (copy["id"], "FAILURE")


def test_many_jobs_in_the_order_given_each_once(history_app: Any) -> None:
    ids = [send_job("divide", [n, 1]) for n in range(5)]
    wait_for_results(ids, timeout=60)
    copies = retry_jobs([*ids, ids[0]])
    assert [copy["retry_of"] for copy in copies] == ids
    results = wait_for_results([copy["id"] for copy in copies], timeout=60)
    assert [result["result"] for result in results] == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_an_unfinished_job_is_refused_unless_forced(history_app: Any) -> None:
    waiting = send_job("divide", [1, 2], countdown=3600)
    done = send_job("divide", [1, 4])
    wait_for_results([done], timeout=60)
    with pytest.raises(Conflict, match=f"not finished, so not retried: {waiting} \\(PENDING\\)") as refused:
        retry_jobs([done, waiting])
    assert refused.value.remedy == "retry anyway"
    assert row(done)["retried_by"] is None  # nothing sent
    [copy] = retry_jobs([waiting], force=True)
    assert wait_for_results([copy["id"]], timeout=60)[0]["result"] == 0.5  # the copy does not wait the hour
    assert row(copy["id"])["eta"] is None


def test_the_schedule_is_kept_only_when_asked(history_app: Any) -> None:
    sent_after = utcnow()
    scheduled = send_job("divide", [1, 2], countdown=3600, expires=7200)
    original = row(scheduled)
    assert original["eta"] >= sent_after + timedelta(hours=1)
    assert original["expires"] - original["eta"] > timedelta(minutes=59)
    [kept] = retry_jobs([scheduled], force=True, keep_schedule=True)
    copy = row(kept["id"])
    assert (copy["eta"], copy["expires"]) == (original["eta"], original["expires"])
    assert kept["eta"] == original["eta"].isoformat()
    [dropped] = retry_jobs([scheduled], force=True)
    assert (row(dropped["id"])["eta"], row(dropped["id"])["expires"], dropped["eta"]) == (None, None, None)
    assert row(scheduled)["retried_by"] == dropped["id"]  # the latest retry


def test_unknown_ids_and_truncated_arguments_send_nothing(history_app: Any) -> None:
    big = send_job("divide", ["x" * RESULT_LIMIT, 1])
    wait_for_results([big], timeout=60)
    before = count()
    with pytest.raises(NotFound, match="job 'nope' is not in the job history"):
        retry_jobs([big, "nope"])
    with pytest.raises(InvalidInput, match=f"job {big} cannot be sent again: its args .* too large"):
        retry_jobs([big])
    assert (count(), row(big)["retried_by"]) == (before, None)


def test_arguments_that_no_longer_fit_the_task_send_nothing(history_app: Any) -> None:
    done = send_job("divide", [1, 2])
    wait_for_results([done], timeout=60)
    with db.engine.begin() as conn:
        conn.execute(update(jobs).where(jobs.c.id == done).values(args=[1, 2, 3]))
    before = count()
    with pytest.raises(InvalidInput, match=f"job {done} cannot be sent again: arguments do not fit divide"):
        retry_jobs([done])
    assert count() == before


def count() -> int:
    with db.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(jobs)) or 0)
