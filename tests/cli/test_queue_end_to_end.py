"""``queue list`` and ``queue purge`` end to end: `appctl` processes, a real `appctl worker`, on each broker.

The embedded default; Redis (broker and results) with PostgreSQL; RabbitMQ with Redis results and
PostgreSQL. Each test has its own data directory, queue names and PostgreSQL schema, and empties
the queues it filled.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from tests.conftest import APPCTL, fresh_pg_schema, isolate_environment, run_appctl
from tests.jobs.waiting import wait_for
from tests.processes import worker_process

SYSTEMS = ["embedded", pytest.param("redis+postgresql", marks=pytest.mark.services)]
SYSTEMS.append(pytest.param("rabbitmq+redis+postgresql", marks=pytest.mark.services))
JOBS = 10_000


@pytest.fixture(params=SYSTEMS)
def system(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """The environment of one system, its database migrated."""
    with ExitStack() as stack:
        env = isolate_environment(monkeypatch, tmp_path / "data")
        env["APPCTL_HEARTBEAT_INTERVAL"] = "0.5"
        if request.param != "embedded":
            redis_url = request.getfixturevalue("redis_url")
            env["DATABASE_URL"] = stack.enter_context(fresh_pg_schema("appctl_queues"))
            env["CELERY_RESULT_BACKEND"] = redis_url
            env["CELERY_BROKER_URL"] = redis_url
        if request.param.startswith("rabbitmq"):
            env["CELERY_BROKER_URL"] = request.getfixturevalue("amqp_url")
        assert appctl(env, "db", "upgrade").returncode == 0
        env["SYSTEM"] = request.param
        yield env


def appctl(env: dict[str, str], *args: str, input: str | None = None) -> Any:
    return run_appctl(*args, env=env, input=input)


def a_worker(env: dict[str, str], log: Path, *options: str) -> Any:
    return worker_process([APPCTL, "worker", "--loglevel=info", "--without-mingle", *options], env, log)


def send(env: dict[str, str], *args: str) -> str:
    sent = appctl(env, "task", "send", "divide", *args)
    assert sent.returncode == 0, sent.stderr
    return str(sent.stdout.strip())


def send_lines(env: dict[str, str], lines: str, *options: str) -> list[str]:
    sent = appctl(env, "task", "send", "divide", "--from-file", "-", *options, input=lines)
    assert sent.returncode == 0, sent.stderr
    return list(sent.stdout.split())


def queues(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    listed = appctl(env, "queue", "list", "-o", "json")
    assert (listed.returncode, listed.stderr) == (0, ""), listed
    return {queue["name"]: queue for queue in json.loads(listed.stdout)}


def history_rows(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Every job of the history with its state and revoked_reason, read from the database itself."""
    from project.jobs.history.models import jobs
    from project.urls import sqlalchemy_database_url

    url = env.get("DATABASE_URL") or f"sqlite:///{env['APPCTL_DATA_DIR']}/app.sqlite"
    engine = create_engine(sqlalchemy_database_url(url))
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(jobs.c.id, jobs.c.state, jobs.c.revoked_reason)).mappings().all()
    finally:
        engine.dispose()
    return {row["id"]: dict(row) for row in rows}


def test_list_shows_waiting_reserved_and_consumers_with_a_worker(system: dict[str, str], tmp_path: Path) -> None:
    busy, idle = system["APPCTL_QUEUE"], f"{system['APPCTL_QUEUE']}-idle"
    rabbitmq = system["SYSTEM"].startswith("rabbitmq")
    slow = {**system, "APPCTL_DIVIDE_DELAY": "120"}
    with a_worker(slow, tmp_path / "worker.log", "--concurrency=1"):
        running = send(system, "1", "2")
        wait_for(lambda: history_rows(system).get(running, {}).get("state") == "STARTED", what="the job to start")
        behind = send_lines(system, "[2, 2]\n[3, 2]\n")  # the worker holds one job at a time
        idle_ids = send_lines(system, "[0, 1]\n[1, 1]\n[2, 1]\n", "--queue", idle)

        listed = wait_for(lambda: (q := queues(system)) and q[busy]["consumers"] == 1 and q, what="the consumer")
        reserved = None if rabbitmq else 1
        assert listed[busy] == {**listed[busy], "waiting": 2, "reserved": reserved, "consumers": 1}
        assert listed[idle] == {**listed[idle], "waiting": 3, "reserved": None if rabbitmq else 0, "consumers": 0}
        ages = (listed[busy]["oldest_age"], listed[idle]["oldest_age"])
        assert ages == (None, None) if rabbitmq else all(isinstance(age, int) and age >= 0 for age in ages)
        names = appctl(system, "queue", "list", "-q")
        assert {busy, idle} <= set(names.stdout.splitlines()) and names.stderr == ""
        plain = appctl(system, "queue", "list")
        unknown = "-" if rabbitmq else "0"
        assert f"{idle}\t3\t{'-' if rabbitmq else ''}" in plain.stdout and f"\t{unknown}\t0\n" in plain.stdout

        purged = appctl(system, "queue", "purge", idle, "--yes")
        assert purged.returncode == 0 and purged.stderr == f"Purged 3 job(s) from queue {idle}.\n"
        assert purged.stdout.splitlines() == [f"{task_id}\tproject.users.tasks.divide\tpurged" for task_id in idle_ids]
        waited = appctl(system, "result", "wait", *idle_ids, "--timeout", "3600")  # revoked: answers at once
        assert waited.returncode == 1 and waited.stderr.startswith(f"Error: task {idle_ids[0]} revoked")
        assert queues(system)[idle]["waiting"] == 0

        assert appctl(system, "queue", "purge", busy, "--yes").stdout.count("\tpurged\n") == 2
        assert appctl(system, "task", "revoke", "--terminate", running).returncode == 0
        wait_for(lambda: history_rows(system)[running]["state"] == "REVOKED", what="the job to be terminated")
    rows = history_rows(system)
    assert {task_id: rows[task_id]["revoked_reason"] for task_id in [*behind, *idle_ids]} == dict.fromkeys(
        [*behind, *idle_ids], "purged"
    )


@pytest.mark.slow
def test_a_purge_of_10000_jobs_while_a_worker_consumes_leaves_history_and_queue_agreeing(
    system: dict[str, str], tmp_path: Path
) -> None:
    queue = system["APPCTL_QUEUE"]
    lines = "".join(f"[{n}, 1]\n" for n in range(JOBS))
    sent = appctl(system, "task", "send", "divide", "--from-file", "-", input=lines)
    assert sent.returncode == 0, sent.stderr
    ids = sent.stdout.split()
    assert len(ids) == JOBS and queues(system)[queue]["waiting"] == JOBS

    with a_worker(system, tmp_path / "worker.log", "--concurrency=2"):
        purged = appctl(system, "queue", "purge", queue, "--yes")
        assert purged.returncode == 0, purged.stderr
        purged_ids = [line.split("\t")[0] for line in purged.stdout.splitlines()]
        assert purged.stderr == f"Purged {len(purged_ids)} job(s) from queue {queue}.\n"

        def settled() -> dict[str, dict[str, Any]] | None:
            rows = history_rows(system)
            return rows if all(rows[task_id]["state"] in ("SUCCESS", "REVOKED") for task_id in ids) else None

        rows = wait_for(settled, timeout=300, what="every job to run or be purged")
        listed = queues(system)[queue]
    revoked = {task_id for task_id in ids if rows[task_id]["state"] == "REVOKED"}
    assert set(purged_ids) == revoked and len(purged_ids) == len(revoked) > 0  # each purged job once
    assert {rows[task_id]["revoked_reason"] for task_id in revoked} == {"purged"}
    assert {task_id for task_id in ids if rows[task_id]["state"] == "SUCCESS"} == set(ids) - revoked
    assert (listed["waiting"], listed["reserved"] in (0, None)) == (0, True)
    sample = purged_ids[:: max(1, len(purged_ids) // 20)]
    waited = appctl(system, "result", "wait", *sample, "--timeout", "3600", "-o", "json")
    assert waited.returncode == 1 and f"task {sample[0]} revoked: TaskRevokedError: purged" in waited.stderr


def test_purge_of_one_task_leaves_the_others_waiting_in_order(system: dict[str, str]) -> None:
    """Jobs sent from outside the app, interleaved with another task's: only the named task's go."""
    from celery import Celery

    from project.broker import register_transports

    register_transports()
    queue = system["APPCTL_QUEUE"]
    celery = Celery(broker=system.get("CELERY_BROKER_URL") or _embedded_broker(system))
    sent: dict[str, list[str]] = {"project.users.tasks.divide": [], "elsewhere.other": []}
    with celery.producer_or_acquire() as producer:
        for n in range(6):
            for name, ids in sent.items():
                ids.append(str(uuid.uuid4()))
                celery.send_task(name, args=[n, 1], task_id=ids[-1], queue=queue, producer=producer)
    divides, others = sent.values()
    dry = appctl(system, "queue", "purge", queue, "--name", "divide", "--dry-run")
    if system["SYSTEM"].startswith("rabbitmq"):
        assert (dry.returncode, dry.stdout) == (65, "") and "RabbitMQ" in dry.stderr
    else:
        assert [line.split("\t")[0] for line in dry.stdout.splitlines()] == divides
        assert dry.stderr == f"Would purge 6 job(s) from queue {queue}.\n"
    purged = appctl(system, "queue", "purge", queue, "--name", "divide", "--yes")
    assert [line.split("\t")[0] for line in purged.stdout.splitlines()] == divides
    assert queues(system)[queue]["waiting"] == 6
    rest = appctl(system, "queue", "purge", queue, "--yes")
    assert [line.split("\t")[:2] for line in rest.stdout.splitlines()] == [[i, "elsewhere.other"] for i in others]
    assert queues(system)[queue]["waiting"] == 0
    rows = history_rows(system)
    assert {rows[task_id]["revoked_reason"] for task_id in divides + others} == {"purged"}


def _embedded_broker(env: dict[str, str]) -> str:
    return f"sqla+sqlite:///{env['APPCTL_DATA_DIR']}/broker.sqlite"


@pytest.mark.slow
def test_ctrl_c_during_a_purge_leaves_history_and_queue_agreeing(system: dict[str, str]) -> None:
    """Every job is either purged (removed, REVOKED "purged") or still waiting and PENDING; none is both."""
    from tests.cli.interrupting import INTERRUPTED, interrupt, start, wait_until

    queue, total = system["APPCTL_QUEUE"], 5000
    ids = send_lines(system, "".join(f"[{n}, 1]\n" for n in range(total)))
    purge = start("queue", "purge", queue, "--yes", env=system)
    assert purge.stdout is not None
    first = purge.stdout.readline().decode()
    wait_until(lambda: bool(first), purge, "the first purged job")
    code, rest, err = interrupt(purge)
    printed = [line.split("\t")[0] for line in (first + rest).splitlines()]
    if code == 0:  # the purge was over before Ctrl-C reached it
        assert err == f"Purged {total} job(s) from queue {queue}.\n"
    else:
        assert (code, err) == (130, INTERRUPTED)
    rows = history_rows(system)
    purged = {task_id for task_id in ids if rows[task_id]["revoked_reason"] == "purged"}
    assert set(printed) == purged and len(printed) % 1000 == 0  # whole chunks, each job printed
    assert {rows[task_id]["state"] for task_id in purged} == {"REVOKED"}
    assert {rows[task_id]["state"] for task_id in set(ids) - purged} <= {"PENDING"}
    assert queues(system)[queue]["waiting"] == total - len(purged)
    assert appctl(system, "queue", "purge", queue, "--yes").stdout.count("\tpurged\n") == total - len(purged)
