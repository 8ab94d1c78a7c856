"""Bulk-sent messages are exactly what apply_async publishes, on every broker (embedded, Redis, RabbitMQ)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from celery.utils.saferepr import saferepr
from hypothesis import given
from hypothesis import strategies as st
from kombu import Queue

from project.celery_internals.messages import job_repr
from project.jobs.publisher import JobToSend
from project.jobs.registry import resolve_task
from project.jobs.send import SendOptions, publishing

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)
ID_FIELDS = ("id", "root_id")
SOON = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)


@given(st.lists(JSON, max_size=5).map(tuple), st.dictionaries(st.text(), JSON, max_size=3))
def test_job_repr_is_celerys_saferepr(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    assert job_repr(args, 1024, 3) == saferepr(args, 1024, maxlevels=3)
    assert job_repr(kwargs, 1024, 3) == saferepr(kwargs, 1024, maxlevels=3)


def test_job_repr_of_long_and_deep_values_is_celerys() -> None:
    for value in (("x" * 3000,), ([[[[1]]]],), ("it's",), ("a\\b", "tab\there"), tuple(range(600))):
        assert job_repr(value, 1024, 3) == saferepr(value, 1024, maxlevels=3)


BROKERS = ["embedded", "redis", "amqp"]


@pytest.fixture(params=BROKERS)
def broker_app(request: pytest.FixtureRequest, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The app on each broker (the embedded default, Redis, RabbitMQ), its queues deleted afterwards."""
    from project import create_app

    if request.param != "embedded":
        request.applymarker(pytest.mark.services)
        monkeypatch.setenv("CELERY_BROKER_URL", request.getfixturevalue(f"{request.param}_url"))
    flask_app = create_app("testing")
    with flask_app.app_context():
        yield flask_app
        with flask_app.extensions["celery"].connection_for_write() as connection:
            for queue in (env["APPCTL_QUEUE"], other_queue(env)):
                with suppress(*connection.channel_errors):
                    connection.default_channel.queue_delete(queue)


def other_queue(env: dict[str, str]) -> str:
    """A second queue of this test's own, for the ``queue`` option."""
    return env["APPCTL_QUEUE"] + "-other"


def queued(app: Any, queue: str) -> list[dict[str, Any]]:
    """The messages waiting in ``queue``, oldest first, taken off the queue as a worker would get them.

    Each is its headers, properties, delivery info and decoded body, read through kombu, so that the
    same comparison holds on every transport.
    """
    messages = []
    with app.extensions["celery"].connection_for_read() as connection:
        reader = Queue(queue, channel=connection.default_channel)  # only reads: declares nothing
        while (message := reader.get(no_ack=True)) is not None:
            messages.append(
                {
                    "headers": message.headers,
                    "properties": {k: v for k, v in message.properties.items() if k != "application_headers"},
                    "delivery_info": {k: message.delivery_info.get(k) for k in ("exchange", "routing_key")},
                    "content_type": message.content_type,
                    "content_encoding": message.content_encoding,
                    "body": message.decode(),
                }
            )
    return messages


def without_ids(message: dict[str, Any]) -> dict[str, Any]:
    """``message`` with the fields that are unique to each message blanked out."""
    copy = json.loads(json.dumps(message))
    for field in ID_FIELDS:
        copy["headers"][field] = "-"
    for field in ("correlation_id", "delivery_tag"):
        if field in copy["properties"]:
            copy["properties"][field] = "-"
    copy["properties"].pop("expiration", None)  # milliseconds left until `expires`, counted as each is sent
    return copy


JOBS = [
    JobToSend((1, 2)),
    JobToSend((3,), {"y": 4}),
    JobToSend(("it's", "a\\b"), {}),
    JobToSend(([1, {"a": [2, [3]]}], None)),
    JobToSend(("x" * 2000, 1.5)),
    JobToSend(('caf\u00e9 \u2028 "q"', "\x00appctl-hole-id\x00")),  # escapes, and a NUL as in a template's holes
]
OPTIONS = [
    {},
    {"queue": "other"},  # this test's own second queue
    {"eta": SOON, "expires": SOON + timedelta(days=1)},
]


@pytest.mark.parametrize("options", OPTIONS, ids=["defaults", "queue", "eta-expires"])
def test_bulk_messages_equal_apply_async(broker_app: Any, env: dict[str, str], options: dict[str, Any]) -> None:
    task = resolve_task("divide")
    if "queue" in options:
        options = {"queue": other_queue(env)}
    queue = options.get("queue") or env["APPCTL_QUEUE"]
    for job in JOBS:
        task.apply_async(job.args, job.kwargs, **options)
    with publishing(task, SendOptions(**options)) as publisher:
        sent = publisher.publish(JOBS)
    messages = queued(broker_app, queue)
    assert len(messages) == 2 * len(JOBS)
    by_celery, by_batch = messages[: len(JOBS)], messages[len(JOBS) :]
    assert [without_ids(m) for m in by_batch] == [without_ids(m) for m in by_celery]
    assert [m["headers"]["id"] for m in by_batch] == [job.id for job in sent]
    for ours, celerys in zip(by_batch, by_celery, strict=True):
        left = [int(m["properties"].get("expiration", 0)) for m in (ours, celerys)]
        assert abs(left[0] - left[1]) < 10_000
    for message in by_batch:
        assert message["headers"]["root_id"] == message["properties"]["correlation_id"] == message["headers"]["id"]
    assert {job.queue for job in sent} == {queue}


def add_a_header(headers: dict[str, Any], **_: Any) -> None:
    """A before_task_publish receiver of the kind Celery's docs show: it adds a header to every message."""
    headers["x-tenant"] = "blue"


def test_a_receiver_of_the_publish_signal_sees_and_changes_every_bulk_message(
    broker_app: Any, env: dict[str, str]
) -> None:
    from celery import signals

    task = resolve_task("divide")
    signals.before_task_publish.connect(add_a_header, weak=False)
    try:
        for job in JOBS:
            task.apply_async(job.args, job.kwargs)
        with publishing(task, SendOptions()) as publisher:
            publisher.publish(JOBS)
    finally:
        signals.before_task_publish.disconnect(add_a_header)
    messages = queued(broker_app, env["APPCTL_QUEUE"])
    by_celery, by_batch = messages[: len(JOBS)], messages[len(JOBS) :]
    assert [without_ids(m) for m in by_batch] == [without_ids(m) for m in by_celery]
    assert {m["headers"].get("x-tenant") for m in messages} == {"blue"}
