"""A bulk send never publishes a job it does not report: a private Redis broker paused (SIGSTOP) or
killed in the middle of a 50k-line ``task send --from-file``; stdout, the history and the queue agree."""

from __future__ import annotations

import json
import re
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import APPCTL, run_appctl
from tests.processes import FaultyProxy
from tests.redis_server import RedisServer, private_redis

LINES = 50_000
FAULT_AFTER = 3000  # ids on stdout before the broker fails
UNKNOWN_LINES = re.compile(r"lines? (\d+)(?:\u2013(\d+))? of unknown fate \(ids in the history as UNKNOWN\)")


def send_through_fault(env: dict[str, str], tmp_path: Path, fault: Callable[[], None]) -> tuple[int, list[str], str]:
    """Run the bulk send, call ``fault`` once FAULT_AFTER ids are out; exit code, ids, stderr."""
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text("".join(f"[{line}, 1]\n" for line in range(1, LINES + 1)))
    command = [APPCTL, "task", "send", "divide", "--from-file", str(jobs)]
    ids: list[str] = []
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None and process.stderr is not None
        errors: list[str] = []
        drain = threading.Thread(target=lambda: errors.append(process.stderr.read()), daemon=True)  # type: ignore[union-attr]
        drain.start()
        faulted = False
        for line in process.stdout:
            ids.append(line.strip())
            if not faulted and len(ids) >= FAULT_AFTER:
                fault()
                faulted = True
        assert faulted, "the send finished before the fault"
        process.wait(timeout=300)
        drain.join(timeout=60)
    return process.returncode, ids, "".join(errors)


def queued_ids(server: RedisServer, queue: str) -> list[str]:
    """The task ids of the messages in ``queue`` (kombu's Redis list), from their headers."""
    import redis

    client = redis.Redis.from_url(server.url(), socket_timeout=30)
    return [json.loads(raw)["headers"]["id"] for raw in client.lrange(queue, 0, -1)]


def history(env: dict[str, str]) -> list[dict[str, Any]]:
    shown = run_appctl("task", "history", "--limit", "0", "-o", "json", env=env, timeout=120)
    assert shown.returncode == 0, shown.stderr
    records: list[dict[str, Any]] = json.loads(shown.stdout)
    return records


def check_agreement(
    env: dict[str, str], queued: list[str], code: int, ids: list[str], stderr: str, confirmed: bool = True
) -> None:
    """Exit 69; stdout ids are the sent history rows; the queue holds those and no job but them and
    UNKNOWN ones. A broker that ``confirmed`` its batches (Redis ``EXEC``) holds each one whole or not
    at all; RabbitMQ, without publisher confirms, may hold part of the failed batch or lose a sent job."""
    assert code == 69, stderr
    assert stderr.count("\n") == 1 and stderr.startswith("Error: "), stderr
    records = history(env)
    sent = {r["id"] for r in records if r["state"] == "PENDING"}
    unknown = {r["id"]: r["args"][0] for r in records if r["state"] == "UNKNOWN"}
    assert {r["state"] for r in records} <= {"PENDING", "UNKNOWN"}
    assert len(ids) == len(set(ids)) and set(ids) == sent, stderr
    assert len(queued) == len(set(queued))
    assert sent <= set(queued) or not confirmed
    assert set(queued) - sent <= set(unknown), f"{len(set(queued) - sent - set(unknown))} jobs queued, never reported"
    landed = set(unknown) & set(queued)
    assert not confirmed or not landed or landed == set(unknown), "a batch was applied in part"
    if unknown:
        match = UNKNOWN_LINES.search(stderr)
        assert match, stderr
        first, last = int(match[1]), int(match[2] or match[1])
        assert all(first <= line <= last for line in unknown.values()), stderr
        assert f"{len(ids)} jobs sent before it" in stderr
        one = sorted(unknown)[0]
        shown = run_appctl("task", "status", one, "-o", "json", env=env, timeout=120)
        assert [job["state"] for job in json.loads(shown.stdout)] == ["UNKNOWN"], shown.stderr
        listed = run_appctl("task", "history", "--state", "unknown", "--limit", "0", "-o", "json", env=env)
        assert {job["id"] for job in json.loads(listed.stdout)} == set(unknown), listed.stderr
    else:
        assert "unknown fate" not in stderr


@pytest.fixture
def broker(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Callable[..., RedisServer]]:
    """A factory: a private Redis broker (durable or not) for ``env``, on a migrated database."""
    with ExitStack() as stack:

        def start(durable: bool) -> RedisServer:
            server = stack.enter_context(private_redis(tmp_path, durable=durable))
            monkeypatch.setenv("CELERY_BROKER_URL", server.url())
            env["CELERY_BROKER_URL"] = server.url()
            upgraded = run_appctl("db", "upgrade", env=env, timeout=120)
            assert upgraded.returncode == 0, upgraded.stderr
            return server

        yield start


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_paused_redis_broker_leaves_no_unreported_job(
    env: dict[str, str], tmp_path: Path, broker: Callable[..., RedisServer]
) -> None:
    server = broker(durable=False)
    try:
        code, ids, stderr = send_through_fault(env, tmp_path, server.pause)
    finally:
        server.resume()
    check_agreement(env, queued_ids(server, env["APPCTL_QUEUE"]), code, ids, stderr)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_killed_redis_broker_leaves_no_unreported_job(
    env: dict[str, str], tmp_path: Path, broker: Callable[..., RedisServer]
) -> None:
    server = broker(durable=True)
    code, ids, stderr = send_through_fault(env, tmp_path, server.kill)
    server.start()  # what reached the disk before the kill
    check_agreement(env, queued_ids(server, env["APPCTL_QUEUE"]), code, ids, stderr)


def drain_rabbitmq_queue(amqp_url: str, queue: str) -> list[str]:
    """Take every message out of ``queue`` (then delete it); their task ids."""
    from kombu import Connection

    ids = []
    with Connection(amqp_url, connect_timeout=5) as connection:
        channel = connection.default_channel
        while (message := channel.basic_get(queue, no_ack=True)) is not None:
            ids.append(message.headers["id"])
        channel.queue_delete(queue)
    return ids


@pytest.mark.slow
@pytest.mark.services
@pytest.mark.timeout(600)
def test_a_rabbitmq_broker_lost_mid_send_leaves_no_unreported_job(
    env: dict[str, str], tmp_path: Path, amqp_url: str
) -> None:
    from urllib.parse import urlsplit

    target = urlsplit(amqp_url)
    proxy = FaultyProxy(target.port or 5672)
    env["CELERY_BROKER_URL"] = target._replace(netloc=f"{target.netloc.rsplit(':', 1)[0]}:{proxy.port}").geturl()
    assert run_appctl("db", "upgrade", env=env, timeout=120).returncode == 0
    try:
        code, ids, stderr = send_through_fault(env, tmp_path, proxy.die)
    finally:
        queued = drain_rabbitmq_queue(amqp_url, env["APPCTL_QUEUE"])
    # Without publisher confirms a message written just before the connection died may be lost.
    check_agreement(env, queued, code, ids, stderr, confirmed=False)
