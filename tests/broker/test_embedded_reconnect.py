"""A worker whose embedded broker's database is down backs off instead of restarting its consumer at once."""

from __future__ import annotations

import time
from pathlib import Path

from tests.processes import kill_group, refused_port, start_worker, worker_command

ATTEMPTS = 2  # failed connection attempts to wait for: the second comes after Celery's first backoff


def test_a_worker_with_its_broker_database_down_retries_with_backoff(env: dict[str, str], tmp_path: Path) -> None:
    broker = f"sqla+postgresql+psycopg://postgres@127.0.0.1:{refused_port()}/nothing"
    log = tmp_path / "worker.log"
    worker = start_worker(worker_command("dead-broker", concurrency=1), {**env, "CELERY_BROKER_URL": broker}, log)
    try:
        deadline = time.monotonic() + 120
        while log.read_text(errors="replace").count("consumer: Cannot connect to") < ATTEMPTS:
            assert worker.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.2)
    finally:
        kill_group(worker)
    text = log.read_text(errors="replace")
    assert "RestartFreqExceeded" not in text
    assert "Connection to broker lost" not in text  # it never counted as connected
    assert "Trying again in" in text  # Celery's reconnect backoff
