"""A beat stopped while a statement of its tick waits for a lock (PostgreSQL): it still gives the lease
up and exits, and another beat takes over.

Celery's SIGTERM handler raises SystemExit wherever the beat is; raised inside the lease renewal, it
left that transaction open, and the release on the way out waited on it for ever (found from outside).
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import APPCTL, fresh_pg_schema, run_appctl
from tests.jobs.waiting import wait_for
from tests.processes import kill_group, start_worker

pytestmark = pytest.mark.services
LOCKED = 4.0  # seconds the test holds the lease row, as another transaction would


@pytest.fixture
def pg_env(env: dict[str, str], redis_url: str) -> Iterator[dict[str, str]]:
    with fresh_pg_schema("appctl_beat_stop") as url:
        env.update(DATABASE_URL=url, CELERY_BROKER_URL=redis_url, CELERY_RESULT_BACKEND=redis_url)
        assert run_appctl("db", "upgrade", env=env).returncode == 0
        yield env


def lease_holders(url: str) -> list[str]:
    from project.urls import sqlalchemy_database_url

    engine = create_engine(sqlalchemy_database_url(url))
    try:
        with engine.connect() as conn:
            return list(conn.scalars(text("SELECT holder FROM beat_leases")))
    finally:
        engine.dispose()


def hold_the_lease_row(url: str, locked: threading.Event) -> None:
    """Lock the lease row for LOCKED seconds in a transaction of this test's own."""
    from project.urls import sqlalchemy_database_url

    engine = create_engine(sqlalchemy_database_url(url))
    try:
        with engine.begin() as conn:
            conn.execute(text("SELECT holder FROM beat_leases FOR UPDATE"))
            locked.set()
            time.sleep(LOCKED)
    finally:
        engine.dispose()


def started_beat(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    beat = start_worker([APPCTL, "beat"], env, log)
    wait_for(lambda: "holds the lease" in log.read_text(errors="replace"), timeout=90, what="the beat to lead")
    return beat


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_a_beat_stopped_while_its_renewal_waits_for_a_lock_gives_the_lease_up(
    pg_env: dict[str, str], tmp_path: Path, stop: signal.Signals
) -> None:
    beat = started_beat(pg_env, tmp_path / "beat.log")
    try:
        locked = threading.Event()
        holder = threading.Thread(target=hold_the_lease_row, args=(pg_env["DATABASE_URL"], locked))
        holder.start()
        assert locked.wait(timeout=30)
        time.sleep(1.5)  # the beat renews every 0.5 s: its renewal now waits for the lock
        beat.send_signal(stop)
        holder.join()
        assert beat.wait(timeout=60) == 0, (tmp_path / "beat.log").read_text()
    finally:
        kill_group(beat)
    assert lease_holders(pg_env["DATABASE_URL"]) == []  # given up, not left to expire
    standby = started_beat(pg_env, tmp_path / "standby.log")
    kill_group(standby)
