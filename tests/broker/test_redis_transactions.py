"""A publish batch on Redis: pushes to one list joined into one LPUSH that Redis applies as it would each."""

from __future__ import annotations

import uuid

import pytest
import redis

from project.broker.redis_transactions import joined_pushes, run_transaction


def test_runs_of_pushes_to_one_list_are_joined_and_nothing_else_moves() -> None:
    commands = [
        ("LPUSH", "a", "1"),
        ("LPUSH", "a", "2"),
        ("PEXPIRE", "a", 10),
        ("LPUSH", "a", "3"),
        ("LPUSH", "b", "4"),
        ("LPUSH", "a", "5"),
        ("LPUSH", "a", "6", "7"),
    ]
    assert joined_pushes(commands) == [
        ("LPUSH", "a", "1", "2"),
        ("PEXPIRE", "a", 10),
        ("LPUSH", "a", "3"),
        ("LPUSH", "b", "4"),
        ("LPUSH", "a", "5", "6", "7"),
    ]
    assert joined_pushes([]) == []


@pytest.mark.services
def test_a_joined_push_leaves_the_list_as_the_pushes_one_by_one_do(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    one_by_one, joined = (f"appctl-test-{uuid.uuid4().hex}" for _ in range(2))
    values = [f"message {n}" for n in range(5)]
    try:
        for value in values:
            client.lpush(one_by_one, value)
        connection = client.connection_pool.get_connection()
        try:
            run_transaction(connection, joined_pushes([("LPUSH", joined, value) for value in values]))
        finally:
            client.connection_pool.release(connection)
        assert client.lrange(joined, 0, -1) == client.lrange(one_by_one, 0, -1)
        assert client.rpop(joined) == b"message 0"  # a worker (BRPOP) takes the first pushed first
    finally:
        client.delete(one_by_one, joined)
