"""Several ``appctl db upgrade`` at once (deploy scripts on several hosts): one migrates, the others
wait for it and find nothing to do; every one exits 0 and the schema is at head once."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import APPCTL, HANG, fresh_pg_schema, run_appctl, service_url

RUNS = 4


def upgrade_at_once(env: dict[str, str]) -> list[tuple[int, str]]:
    """Start RUNS upgrades together; each one's exit status and stderr."""
    started = [
        subprocess.Popen([APPCTL, "db", "upgrade"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(RUNS)
    ]
    errors = [process.communicate(timeout=HANG)[1] for process in started]
    return [(process.returncode, stderr) for process, stderr in zip(started, errors, strict=True)]


def assert_migrated_once(env: dict[str, str], outcomes: list[tuple[int, str]]) -> None:
    assert [code for code, _ in outcomes] == [0] * RUNS, outcomes
    status = run_appctl("db", "status", "-o", "json", env=env)
    assert json.loads(status.stdout)["at_head"] is True, status.stderr
    added = run_appctl("user", "add", "ann", "ann@example.com", env=env)
    assert added.returncode == 0, added.stderr


@pytest.mark.slow  # a process race (or Ctrl-C in the middle): `make test-all`
def test_upgrades_at_once_on_sqlite(env: dict[str, str]) -> None:
    assert_migrated_once(env, upgrade_at_once(env))


@pytest.mark.slow  # a process race (or Ctrl-C in the middle): `make test-all`
@pytest.mark.services
def test_upgrades_at_once_on_postgresql(env: dict[str, str]) -> None:
    with fresh_pg_schema() as url:
        on_postgresql = {**env, "DATABASE_URL": url}
        assert_migrated_once(on_postgresql, upgrade_at_once(on_postgresql))


def test_an_upgrade_waits_for_the_lock_only_so_long_on_sqlite(env: dict[str, str]) -> None:
    """A lock held past APPCTL_MIGRATION_LOCK_TIMEOUT is exit 4 with one line, and nothing changes."""
    import fcntl

    data = Path(env["APPCTL_DATA_DIR"])
    data.mkdir(parents=True, exist_ok=True)
    with open(data / "app.sqlite.migrating", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        waited = run_appctl("db", "upgrade", env={**env, "APPCTL_MIGRATION_LOCK_TIMEOUT": "1"})
    assert (waited.returncode, waited.stdout) == (4, "")
    assert (
        waited.stderr.startswith("Error: another migration of this database is running")
        and waited.stderr.count("\n") == 1
    ), waited.stderr
    assert json.loads(run_appctl("db", "status", "-o", "json", env=env).stdout)["current"] is None


@pytest.mark.services
def test_an_upgrade_waits_for_the_lock_only_so_long_on_postgresql(env: dict[str, str]) -> None:
    import psycopg

    with fresh_pg_schema() as url, psycopg.connect(url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(hashtext('appctl-migrations ' || current_schema()))")
        on_postgresql = {**env, "DATABASE_URL": url, "APPCTL_MIGRATION_LOCK_TIMEOUT": "1"}
        waited = run_appctl("db", "upgrade", env=on_postgresql)
        assert (waited.returncode, waited.stdout) == (4, ""), waited.stderr
        assert waited.stderr.startswith("Error: another migration of this database is running"), waited.stderr
        holder.execute("SELECT pg_advisory_unlock_all()")
        assert run_appctl("db", "upgrade", env=on_postgresql).returncode == 0


@pytest.mark.services
def test_a_schema_that_does_not_exist_is_said_at_once_not_waited_on(env: dict[str, str]) -> None:
    """With no schema to migrate, PostgreSQL's current_schema() is NULL: the lock is still taken."""
    missing = f"{service_url('TEST_DATABASE_URL').split('?')[0]}?options=-csearch_path%3Dappctl_no_such_schema"
    refused = run_appctl("db", "upgrade", env={**env, "DATABASE_URL": missing, "APPCTL_MIGRATION_LOCK_TIMEOUT": "600"})
    assert (refused.returncode, refused.stdout) == (69, ""), refused.stderr
    assert refused.stderr.startswith("Error: the schema that ") and "does not exist" in refused.stderr


@pytest.mark.slow  # a process race (or Ctrl-C in the middle): `make test-all`
def test_ctrl_c_in_the_middle_of_an_upgrade_on_sqlite_leaves_no_half_migrated_schema(env: dict[str, str]) -> None:
    """SQLite's DDL is not rolled back: Ctrl-C waits for the migration, then ends the command (exit 130)."""
    import signal
    import sqlite3
    import time

    database = Path(env["APPCTL_DATA_DIR"]) / "app.sqlite"
    upgrading = subprocess.Popen([APPCTL, "db", "upgrade"], env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + HANG
    while time.monotonic() < deadline and upgrading.poll() is None:  # until the first migration made a table
        try:
            with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=0.01) as peek:
                if peek.execute("SELECT 1 FROM sqlite_master WHERE name = 'users'").fetchone():
                    break
        except sqlite3.Error:
            pass
        time.sleep(0.005)
    upgrading.send_signal(signal.SIGINT)
    stderr = upgrading.communicate(timeout=HANG)[1]
    assert upgrading.returncode in (0, 130), stderr
    if upgrading.returncode == 130:
        assert stderr.endswith("Error: interrupted\n"), stderr
    again = run_appctl("db", "upgrade", env=env)
    assert again.returncode == 0, again.stderr
    assert json.loads(run_appctl("db", "status", "-o", "json", env=env).stdout)["at_head"] is True
