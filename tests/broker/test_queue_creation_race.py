"""Processes that declare the same new queue at once on the embedded broker all succeed.

A worker and ``task send`` started together both create the app's queue; kombu 5.7.0 let the
second insert's unique-name clash escape, and the worker died on start.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from project.urls import sqlalchemy_database_url
from tests.conftest import fresh_pg_schema

PROCESSES = 6
QUEUES = 30

DECLARE = """
import sys, time
from pathlib import Path
from kombu import Connection
from project.broker import register_transports

register_transports()
url, go = sys.argv[1], Path(sys.argv[2])
while not go.exists():
    time.sleep(0.01)
# SQLite waits for its write lock as long as appctl's own connections do (a loaded machine is slow)
options = {{"connect_args": {{"timeout": 60}}}} if url.startswith("sqla+sqlite") else {{}}
with Connection(url, transport_options=options) as connection:
    channel = connection.channel()
    for n in range({queues}):
        channel.queue_declare(f"raced-{{n}}")
        channel.basic_publish(channel.prepare_message(f"from {{sys.argv[3]}}"), "", f"raced-{{n}}")
print("ok")
"""


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def broker_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty embedded broker on a SQLite file, or on a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}"
        return
    with fresh_pg_schema("appctl_broker") as url:
        yield "sqla+" + sqlalchemy_database_url(url)


@pytest.mark.slow  # a process race (or Ctrl-C in the middle): `make test-all`
def test_processes_declaring_the_same_queues_at_once_all_succeed(tmp_path: Path, broker_url: str) -> None:
    url, go = broker_url, tmp_path / "go"
    script = DECLARE.format(queues=QUEUES)
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, url, str(go), str(n)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(PROCESSES)
    ]
    go.touch()
    outcomes = [process.communicate(timeout=180) for process in processes]
    assert [(process.returncode, out) for process, (out, _) in zip(processes, outcomes, strict=True)] == [
        (0, "ok\n")
    ] * PROCESSES, [err[-2000:] for _, err in outcomes]
