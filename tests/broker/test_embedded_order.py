"""The embedded broker hands messages out in the order they were put, a message handed back first."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kombu import Connection

from project.broker import register_transports
from project.urls import sqlalchemy_database_url
from tests.conftest import fresh_pg_schema


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def broker_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty embedded broker on a SQLite file, or on a fresh PostgreSQL schema."""
    register_transports()
    if request.param == "sqlite":
        yield f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}"
        return
    with fresh_pg_schema("appctl_order") as url:
        yield "sqla+" + sqlalchemy_database_url(url)


def test_messages_come_in_order_and_one_handed_back_comes_next(broker_url: str) -> None:
    with Connection(broker_url) as conn:
        jobs = conn.SimpleQueue("ordered")
        for body in ("first", "second", "third"):
            jobs.put(body)
        taken = jobs.get(timeout=5)
        assert taken.payload == "first"
        taken.requeue()  # a worker that stops before running it hands it back (acks late)
        assert [jobs.get(timeout=5).payload for _ in range(3)] == ["first", "second", "third"]
        jobs.close()


def test_a_dead_workers_message_is_next_once_restored(broker_url: str) -> None:
    with Connection(broker_url, transport_options={"visibility_timeout": 0, "unacked_restore_interval": 0}) as conn:
        jobs = conn.SimpleQueue("restored")
        for body in ("first", "second"):
            jobs.put(body)
        with Connection(broker_url) as dead:  # takes the first job, then never acks it
            assert dead.SimpleQueue("restored").get(timeout=5).payload == "first"
            assert [message.payload for message in (jobs.get(timeout=5), jobs.get(timeout=5))] == ["first", "second"]
        jobs.close()
