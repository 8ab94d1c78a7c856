"""The job history is written as jobs are published and as a real worker runs them (embedded default)."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from kombu.exceptions import OperationalError
from sqlalchemy import event, text

from project.errors import ServiceUnavailable
from project.extensions import db
from project.jobs.health import queue_depth
from project.jobs.history.read import find_job, list_history
from project.jobs.results import wait_for_results
from project.jobs.send import send_from_lines, send_job
from project.users.tasks import divide
from tests.jobs.waiting import job_in_state, run_recorded, wait_for


def test_good_and_failing_jobs_are_recorded_from_send_to_finish(worker: Any) -> None:
    good, bad = send_job("divide", [1, 2]), send_job("divide", [1, 0])
    wait_for_results([good, bad], timeout=30)
    done = wait_for(run_recorded(good, "SUCCESS"), what="SUCCESS in the history")
    failed = wait_for(run_recorded(bad, "FAILURE"), what="FAILURE in the history")
    fields = (done["name"], done["args"], done["kwargs"], done["result"], done["error"])
    assert fields == ("project.users.tasks.divide", [1, 2], {}, 0.5, None)
    assert failed["error"] == "ZeroDivisionError: division by zero"
    assert failed["result"] is None
    for record in (done, failed):
        assert record["sent_at"] <= record["started_at"] <= record["finished_at"]
        assert record["worker"] and record["queue"] == worker.conf.task_default_queue


def test_a_job_published_by_any_code_using_the_app_is_recorded(app: Any) -> None:
    result = divide.delay(4, 2)  # not through appctl: as a Flask view or a script would
    record = find_job(result.id)
    assert record is not None
    assert (record["state"], record["args"], record["sent_at"] is not None) == ("PENDING", [4, 2], True)


@contextmanager
def counted_job_inserts() -> Iterator[list[int]]:
    """Within the block, the number of rows of each INSERT into ``jobs`` the ORM runs, in order."""
    inserts: list[int] = []

    def count(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if statement.startswith("INSERT INTO jobs") and "json_each" in statement:  # SQLite: the rows in one JSON array
            inserts.append(len(json.loads((parameters[0] if executemany else parameters)[0])))
        elif statement.startswith("INSERT INTO jobs"):
            inserts.append(len(parameters) if executemany else 1)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield inserts
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def test_bulk_sends_are_recorded_one_insert_per_batch(app: Any) -> None:
    lines = b"".join(b"[%d, 1]\n" % i for i in range(45))
    with counted_job_inserts() as inserts:
        total, batches = send_from_lines("divide", io.BytesIO(lines))
        ids = [job.id for batch in batches for job in batch]
    assert (total, len(ids), inserts) == (45, 45, [45])
    assert all(find_job(task_id) is not None for task_id in ids)


def test_a_history_failure_never_loses_the_job(worker: Any, caplog: pytest.LogCaptureFixture) -> None:
    with db.engine.begin() as conn:
        conn.execute(text("DROP TABLE jobs"))
    with caplog.at_level(logging.WARNING, logger="appctl.history"):
        task_id = send_job("divide", [3, 1])
    assert "the job history did not record the sending of " + task_id in caplog.text
    assert wait_for_results([task_id], timeout=30)[0]["result"] == 3.0


def test_a_job_revoked_before_any_worker_ran_is_skipped(app: Any) -> None:
    from celery.contrib.testing.worker import start_worker

    from project.jobs.revoke import revoke_jobs

    task_id = send_job("divide", [1, 2])
    [revoked] = revoke_jobs([task_id])
    assert (revoked["state"], revoked["outcome"]) == ("REVOKED", "revoked")
    celery = app.extensions["celery"]
    with start_worker(celery, pool="threads", concurrency=1, perform_ping_check=False, loglevel="WARNING"):
        later = send_job("divide", [1, 4])  # the worker takes jobs in order: once this ran, the other was seen
        wait_for(job_in_state(later, "SUCCESS"), what="the job sent after the revoked one")
    record = find_job(task_id)
    assert record is not None
    assert (record["state"], record["started_at"], record["result"]) == ("REVOKED", None, None)
    assert wait_for_results([task_id], timeout=60)[0]["state"] == "REVOKED"
    with celery.connection_for_write() as connection:
        assert queue_depth(connection, celery.conf.task_default_queue) == 0  # consumed and acknowledged


def test_a_retried_job_is_recorded_with_its_retries(app: Any) -> None:
    from celery.contrib.testing.worker import start_worker

    celery = app.extensions["celery"]

    @celery.task(
        bind=True, max_retries=1, name="tests.flaky", shared=False
    )  # this app's only: `task list` elsewhere unchanged
    def flaky(self: Any, value: int) -> int:
        if self.request.retries == 0:
            raise self.retry(exc=RuntimeError("not yet"), countdown=0)
        return value

    with start_worker(celery, pool="threads", perform_ping_check=False, loglevel="WARNING"):
        task_id = flaky.delay(7).id
        assert wait_for_results([task_id], timeout=30)[0]["result"] == 7
        record = wait_for(job_in_state(task_id, "SUCCESS"), what="SUCCESS after a retry")
    assert (record["retries"], record["result"], record["error"]) == (1, 7, None)


def test_a_job_that_expired_before_a_worker_took_it_is_revoked(app: Any) -> None:
    from celery.contrib.testing.worker import start_worker

    task_id = send_job("divide", [1, 2], expires=0.01)
    time.sleep(0.1)
    with start_worker(app.extensions["celery"], pool="threads", perform_ping_check=False, loglevel="WARNING"):
        record = wait_for(job_in_state(task_id, "REVOKED"), what="the expired job to be discarded")
    assert (record["error"], record["started_at"]) == ("TaskRevokedError: expired", None)


def test_bulk_sends_record_each_batch_the_broker_took_with_one_insert(app: Any) -> None:
    lines = b"".join(b"[%d, 2]\n" % i for i in range(45))
    with counted_job_inserts() as inserts:
        _, batches = send_from_lines("divide", io.BytesIO(lines))
        sent = [[job.id for job in jobs] for jobs in batches]
    assert inserts == [len(ids) for ids in sent] and sum(inserts) == 45
    assert sorted(job["id"] for job in list_history(limit=None)) == sorted(i for ids in sent for i in ids)


@pytest.mark.parametrize("bulk", [False, True])
def test_jobs_the_broker_refused_leave_no_history(app: Any, monkeypatch: pytest.MonkeyPatch, bulk: bool) -> None:
    def refuse(self: Any) -> None:
        raise OperationalError("the broker went away")

    monkeypatch.setattr("kombu.messaging._ProducerBatchState.flush", refuse)
    with pytest.raises(ServiceUnavailable):
        if bulk:
            list(send_from_lines("divide", io.BytesIO(b"[1, 2]\n[3, 4]\n"))[1])
        else:
            send_job("divide", [1, 2])
    assert list(list_history()) == []
