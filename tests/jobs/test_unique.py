"""Unique sends: the database takes the key, one of many racing processes sends, a finished job frees it.

Each test runs on the embedded default (SQLite, the SQLAlchemy broker and result backend) and on
PostgreSQL with Redis as broker and result backend. Keys are fresh per test (the PostgreSQL schema
is shared by the session) and every test has a queue of its own.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
import uuid
from datetime import timedelta
from queue import Empty
from typing import Any

import pytest
from sqlalchemy import func, select, update

from project.errors import Conflict, InvalidInput, ServiceUnavailable
from project.extensions import db
from project.jobs.history.models import jobs
from project.jobs.history.read import find_job
from project.jobs.history.values import UNKNOWN, sent_row, utcnow
from project.jobs.history.write_driver import DriverHistory
from project.jobs.history.write_orm import OrmHistory
from project.jobs.results import wait_for_results
from project.jobs.send import send_job
from project.jobs.unique import send_unique_job, unique_key_for
from tests.conftest import HANG, thread_worker
from tests.jobs.waiting import job_in_state, wait_for
from tests.processes import refused_port

RACERS = 6  # processes sending the same unique job at once


@pytest.fixture(params=["embedded", pytest.param("redis+postgresql", marks=pytest.mark.services)])
def system(request: pytest.FixtureRequest, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The test's environment: the embedded default, or PostgreSQL with Redis as broker and result backend."""
    if request.param != "embedded":
        redis_url = request.getfixturevalue("redis_url")
        services = {"DATABASE_URL": request.getfixturevalue("pg_url")}
        services.update(CELERY_BROKER_URL=redis_url, CELERY_RESULT_BACKEND=redis_url)
        for name, value in services.items():
            monkeypatch.setenv(name, value)
        env.update(services)
    return env


@pytest.fixture
def unique_app(system: dict[str, str], request: pytest.FixtureRequest) -> Any:
    """The app on ``system``, migrated, inside its app context."""
    return request.getfixturevalue("app")


def key() -> str:
    return f"test-{uuid.uuid4().hex}"


def rows_holding(unique_key: str) -> list[dict[str, Any]]:
    query = select(jobs.c.id, jobs.c.state).where(jobs.c.unique_key == unique_key).order_by(jobs.c.sent_at)
    with db.engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def waiting_messages(app: Any) -> int:
    """The messages waiting in the test's queue (kombu's passive declare: the broker counts them)."""
    celery = app.extensions["celery"]
    with celery.connection_for_read() as connection:
        return int(connection.default_channel.queue_declare(app.config["CELERY_TASK_DEFAULT_QUEUE"], passive=True)[1])


def test_the_key_is_the_full_task_name_and_the_canonical_arguments() -> None:
    one = unique_key_for("project.users.tasks.divide", [1, 2], {"a": 1, "b": [1, {"y": 2, "x": 1}]})
    same = unique_key_for("project.users.tasks.divide", (1, 2), {"b": [1, {"x": 1, "y": 2}], "a": 1})
    assert one == same and one.startswith("sha256:") and len(one) == len("sha256:") + 64
    assert unique_key_for("project.users.tasks.divide", [2, 1], {}) != unique_key_for(
        "project.users.tasks.divide", [1, 2], {}
    )
    assert unique_key_for("other.divide", [1, 2], {}) != unique_key_for("project.users.tasks.divide", [1, 2], {})


@pytest.mark.parametrize("writer", ["orm", "driver"])
def test_each_history_writer_lets_one_unfinished_job_hold_a_key(unique_app: Any, writer: str) -> None:
    history = OrmHistory() if writer == "orm" else DriverHistory.for_config(unique_app.config)
    assert history is not None
    taken = key()
    first, second = (
        {**sent_row(f"{taken}-{n}", "divide", [1], {}, None, state=UNKNOWN), "unique_key": taken} for n in (1, 2)
    )
    assert history.claim(first) is True
    assert history.claim(second) is False
    assert history.holder(taken) == {"id": first["id"], "state": UNKNOWN, "sent_at": first["sent_at"]}
    assert history.settle(first["id"], (UNKNOWN,), {"state": "PENDING", "queue": "q"}) is True
    assert history.settle(first["id"], (UNKNOWN,), {"state": "SUCCESS"}) is False  # only from the states given
    history.release(first["id"], UNKNOWN)  # not UNKNOWN any more: kept
    assert rows_holding(taken) == [{"id": first["id"], "state": "PENDING"}]
    assert history.settle(first["id"], ("PENDING",), {"state": "SUCCESS", "finished_at": utcnow()}) is True
    assert history.holder(taken) is None
    assert history.claim(second) is True  # a finished job no longer holds its key
    history.release(second["id"], UNKNOWN)
    assert rows_holding(taken) == [{"id": first["id"], "state": "SUCCESS"}]
    history.close()


def send_at_the_barrier(environ: dict[str, str], barrier: Any, results: Any, orm: bool, unique_key: str) -> None:
    """A racing process: build the app (the ORM's, or the publisher app with the driver), wait for all, send."""
    os.environ.clear()
    os.environ.update(environ)
    from project import create_app, create_publisher_app
    from project.jobs.unique import send_unique_job

    app = create_app() if orm else create_publisher_app()
    with app.app_context():
        barrier.wait(timeout=HANG)
        try:
            results.put(send_unique_job("divide", [1, 2], key=unique_key))
        except Exception as exc:
            results.put({"error": repr(exc)})


@pytest.mark.slow  # a process race (or Ctrl-C in the middle): `make test-all`
def test_processes_racing_with_one_key_send_one_job(unique_app: Any, system: dict[str, str]) -> None:
    spawn = multiprocessing.get_context("spawn")
    barrier, results = spawn.Barrier(RACERS), spawn.Queue()
    taken = key()
    racers = [
        spawn.Process(target=send_at_the_barrier, args=(system, barrier, results, n % 2 == 0, taken))
        for n in range(RACERS)
    ]
    for racer in racers:
        racer.start()
    try:
        answers = [results.get(timeout=HANG) for _ in racers]
    except Empty:
        pytest.fail("a racing process gave no answer")
    finally:
        for racer in racers:
            racer.join(timeout=HANG)
    assert [answer for answer in answers if "error" in answer] == []
    sent = [answer for answer in answers if answer["sent"]]
    assert len(sent) == 1, answers
    assert {answer["id"] for answer in answers} == {sent[0]["id"]}
    assert rows_holding(taken) == [{"id": sent[0]["id"], "state": "PENDING"}]
    assert waiting_messages(unique_app) == 1
    with thread_worker(unique_app.extensions["celery"]):
        assert wait_for_results([sent[0]["id"]], timeout=HANG)[0]["result"] == 0.5
    again = send_unique_job("divide", [1, 2], key=taken)  # the job finished: the key is free
    assert again["sent"] is True and again["id"] != sent[0]["id"]


def test_a_finished_job_frees_its_key_with_a_real_worker(unique_app: Any) -> None:
    args = [uuid.uuid4().int % 1000, 4]
    first = send_unique_job("divide", args)
    assert (first["sent"], first["state"]) == (True, "PENDING")
    assert send_unique_job("project.users.tasks.divide", args) == {**first, "sent": False}  # the same job
    assert send_unique_job("divide", [*args[:1], 5])["sent"] is True  # other arguments: another job
    with thread_worker(unique_app.extensions["celery"]):
        wait_for(job_in_state(first["id"], "SUCCESS"), HANG, "the first job to succeed")
        second = send_unique_job("divide", args)
        assert second["sent"] is True and second["id"] != first["id"]
        assert wait_for_results([second["id"]], timeout=HANG)[0]["result"] == args[0] / 4


def test_a_holder_the_result_backend_knows_finished_is_settled_and_frees_the_key(unique_app: Any) -> None:
    taken = key()
    with thread_worker(unique_app.extensions["celery"]):
        first = send_unique_job("divide", [1, 0], key=taken)
        wait_for(job_in_state(first["id"], "FAILURE"), HANG, "the job to fail")
    with db.engine.begin() as conn:  # the history missed the end: its record was lost
        conn.execute(update(jobs).where(jobs.c.id == first["id"]).values(state="STARTED", finished_at=None))
    second = send_unique_job("divide", [1, 0], key=taken)
    assert second["sent"] is True and second["id"] != first["id"]
    settled = find_job(first["id"])
    assert settled is not None and settled["state"] == "FAILURE" and settled["finished_at"] is not None
    assert settled["error"] == "ZeroDivisionError: division by zero"


def test_a_send_the_broker_refused_frees_the_key(unique_app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from project import create_publisher_app

    taken = key()
    with monkeypatch.context() as refused:  # Celery reads CELERY_BROKER_URL itself: set only meanwhile
        refused.setenv("CELERY_BROKER_URL", f"redis://127.0.0.1:{refused_port()}/0")
        refused_app = create_publisher_app("testing")
        with refused_app.app_context(), pytest.raises(ServiceUnavailable, match="cannot reach the broker"):
            send_unique_job("divide", [1, 2], key=taken)
    assert rows_holding(taken) == []  # as every refused send: no history, and the key is free
    assert send_unique_job("divide", [1, 2], key=taken)["sent"] is True


def test_a_holder_of_unknown_fate_is_a_conflict_until_revoked(unique_app: Any) -> None:
    from project.jobs.revoke import revoke_jobs

    taken = key()
    long_ago = utcnow() - timedelta(seconds=unique_app.config["LONGEST_SEND"] + 60)
    lost = {**sent_row(f"lost-{taken}", "divide", [1], {}, None, sent_at=long_ago, state=UNKNOWN), "unique_key": taken}
    assert OrmHistory().claim(lost)
    with pytest.raises(Conflict, match=f"job {lost['id']} holds the unique key") as conflict:
        send_unique_job("divide", [1, 2], key=taken)
    assert conflict.value.hint is not None and f"revoke {lost['id']}" in conflict.value.hint
    assert [record["outcome"] for record in revoke_jobs([lost["id"]])] == ["revoked"]
    assert send_unique_job("divide", [1, 2], key=taken)["sent"] is True


def test_a_key_another_process_is_taking_is_waited_for(unique_app: Any) -> None:
    taken = key()
    in_flight = {**sent_row(f"flying-{taken}", "divide", [1], {}, None, state=UNKNOWN), "unique_key": taken}
    assert OrmHistory().claim(in_flight)

    def broker_answers() -> None:
        time.sleep(0.3)
        with unique_app.app_context():
            OrmHistory().settle(in_flight["id"], (UNKNOWN,), {"state": "PENDING"})

    answering = threading.Thread(target=broker_answers)
    answering.start()
    try:
        found = send_unique_job("divide", [1, 2], key=taken)
    finally:
        answering.join(timeout=HANG)
    assert found == {"id": in_flight["id"], "state": "PENDING", "sent": False, "unique_key": taken}


def test_a_bad_key_is_invalid_input_and_sends_nothing(unique_app: Any) -> None:
    with db.engine.connect() as conn:
        before = conn.scalar(select(func.count()).select_from(jobs))
    for bad in ("", "   ", "x" * 256, "tab\there"):
        with pytest.raises(InvalidInput, match="unique key"):
            send_unique_job("divide", [1, 2], key=bad)
    with db.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(jobs)) == before


def test_a_plain_send_ignores_unique_keys(unique_app: Any) -> None:
    args = [uuid.uuid4().int % 1000, 3]
    held = send_unique_job("divide", args)
    plain = send_job("divide", args)
    assert plain != held["id"]
    record = find_job(plain)
    assert record is not None and record["state"] == "PENDING"
    assert rows_holding(held["unique_key"]) == [{"id": held["id"], "state": "PENDING"}]


def test_a_scheduled_job_holds_its_key_and_the_history_shows_when_it_is_due(unique_app: Any) -> None:
    args = [uuid.uuid4().int % 1000, 6]
    scheduled = send_unique_job("divide", args, countdown=3600, expires=7200)
    assert scheduled["sent"] is True
    record = find_job(scheduled["id"])
    assert record is not None and record["state"] == "PENDING" and record["queue"] is not None
    assert record["eta"] is not None and record["expires"] is not None and record["eta"] < record["expires"]
    assert send_unique_job("divide", args) == {**scheduled, "sent": False}  # due in an hour: still unfinished
