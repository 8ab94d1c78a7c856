"""Each broker's QueueAccess (project/broker/*_queues.py): chunks, --name, giving back, a taker that dies."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from project.broker import amqp_queues, embedded_queues, redis_queues
from project.broker.queues import queue_access
from tests.conftest import HANG
from tests.jobs.waiting import wait_for

PEEKING = ["embedded", pytest.param("redis", marks=pytest.mark.services)]  # RabbitMQ cannot peek
BROKERS = [*PEEKING, pytest.param("rabbitmq", marks=pytest.mark.services)]
CHUNK = 3  # small, so that a few jobs make several chunks


@pytest.fixture(params=BROKERS)
def celery(request: pytest.FixtureRequest, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The app's Celery on one broker, with small chunks; the test's queue is emptied afterwards."""
    if request.param != "embedded":
        env["CELERY_BROKER_URL"] = request.getfixturevalue("redis_url" if request.param == "redis" else "amqp_url")
        monkeypatch.setenv("CELERY_BROKER_URL", env["CELERY_BROKER_URL"])
    for module in (embedded_queues, redis_queues, amqp_queues):
        monkeypatch.setattr(module, "CHUNK", CHUNK)
    from project import create_app
    from project.migrations import upgrade_database

    app = create_app("testing")
    with app.app_context():
        upgrade_database()  # sends are recorded in the history
    celery = app.extensions["celery"]
    celery.conf.update(env=dict(env, BROKER=request.param))
    yield celery
    with celery.connection_for_write() as connection:
        list(_taken(queue_access(connection), env["APPCTL_QUEUE"]))


def send(celery: Any, queue: str, names: list[str]) -> list[str]:
    ids = [str(uuid.uuid4()) for _ in names]
    with celery.producer_or_acquire() as producer:
        for task_id, name in zip(ids, names, strict=True):
            celery.send_task(name, args=[1, 2], task_id=task_id, queue=queue, producer=producer)
    return ids


def _taken(access: Any, queue: str, task: str | None = None) -> Iterator[str]:
    for chunk in access.take(queue, task):
        yield from (job.id for job in chunk)


def test_take_of_one_task_takes_only_its_jobs_across_chunks(celery: Any) -> None:
    queue = celery.conf.env["APPCTL_QUEUE"]
    names = ["a.divide", "b.other", "b.other", "a.divide", "a.divide", "b.other", "a.divide", "b.other"] * 2
    ids = send(celery, queue, names)
    with celery.connection_for_write() as connection:
        access = queue_access(connection)
        assert access.counts(queue).waiting == len(ids)
        taken = list(_taken(access, queue, "a.divide"))
        assert taken == [i for i, name in zip(ids, names, strict=True) if name == "a.divide"]
        assert access.counts(queue).waiting == len(ids) - len(taken)
        assert list(_taken(access, queue)) == [i for i, name in zip(ids, names, strict=True) if name == "b.other"]
        assert access.counts(queue).waiting == 0


def test_a_chunk_given_back_waits_again_in_its_place(celery: Any) -> None:
    queue = celery.conf.env["APPCTL_QUEUE"]
    ids = send(celery, queue, ["a.divide"] * 7)
    with celery.connection_for_write() as connection:
        access = queue_access(connection)
        chunks = access.take(queue, None)
        assert [job.id for job in next(chunks)] == ids[:CHUNK]
        assert [job.id for job in next(chunks)] == ids[CHUNK : 2 * CHUNK]  # the first is now removed
        chunks.close()  # as when marking the chunk fails
        assert access.counts(queue).waiting == len(ids) - CHUNK
        assert list(_taken(access, queue)) == ids[CHUNK:]


@pytest.mark.parametrize("celery", PEEKING, indirect=True)
def test_peek_lists_the_jobs_and_leaves_them(celery: Any) -> None:
    queue = celery.conf.env["APPCTL_QUEUE"]
    names = ["a.divide", "b.other"] * 4
    ids = send(celery, queue, names)
    with celery.connection_for_write() as connection:
        access = queue_access(connection)
        assert [job.id for job in access.peek(queue, "b.other")] == ids[1::2]
        assert access.counts(queue).waiting == len(ids)


DIES_HOLDING = """
import os, sys, time
from project import create_publisher_app
from project.broker import embedded_queues, redis_queues, amqp_queues
from project.broker.queues import queue_access
for module in (embedded_queues, redis_queues, amqp_queues):
    module.CHUNK = {chunk}
celery = create_publisher_app("testing").extensions["celery"]
with celery.connection_for_write() as connection:
    chunks = queue_access(connection).take(sys.argv[1], None)  # held by a name: no GeneratorExit
    chunk = next(chunks)
    print(" ".join(job.id for job in chunk), flush=True)
    os._exit(0)  # dies holding the chunk: nothing is given back, nothing removed
"""


def test_the_chunk_of_a_taker_that_died_is_delivered_again(celery: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """As a dead worker's job is: at once on RabbitMQ, after the visibility timeout on the others."""
    queue = celery.conf.env["APPCTL_QUEUE"]
    ids = send(celery, queue, ["a.divide"] * 5)
    script = textwrap.dedent(DIES_HOLDING).format(chunk=CHUNK)
    run = subprocess.run(
        [sys.executable, "-c", script, queue], env=celery.conf.env, capture_output=True, text=True, timeout=HANG
    )
    assert run.stdout.split() == ids[:CHUNK], run.stderr
    with celery.connection_for_write() as connection:
        access = queue_access(connection)
        if celery.conf.env["BROKER"] != "rabbitmq":  # RabbitMQ requeues them when the connection drops
            assert access.counts(queue).waiting == len(ids) - CHUNK
        restore_as_a_worker_does(connection, celery.conf.env["BROKER"])
        wait_for(lambda: access.counts(queue).waiting == len(ids), timeout=60, what="the held jobs to return")
        assert sorted(_taken(access, queue)) == sorted(ids)


def restore_as_a_worker_does(connection: Any, broker: str) -> None:
    """The sweep a consuming worker runs, with a visibility timeout of 0 (RabbitMQ needs none)."""
    channel = connection.default_channel
    if broker == "redis":
        channel.qos.visibility_timeout = 0
        channel.qos.restore_visible(num=100, interval=1)
    elif broker == "embedded":
        channel.visibility_timeout = 0
        channel.restore_expired()
