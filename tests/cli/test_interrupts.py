"""Ctrl-C ends every command with exit 130 and one line on stderr, and leaves nothing half-written.

Each test runs appctl as a real process, waits (by polling what the process holds open or has
printed) until it is in the middle of its work, and sends SIGINT, as a terminal does on Ctrl-C.
"""

from __future__ import annotations

import json
import signal
import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.cli.interrupting import INTERRUPTED, connections, has_open, interrupt, start, wait_until
from tests.conftest import run_appctl
from tests.processes import silent_server

pytestmark = pytest.mark.slow  # Ctrl-C in the middle of real processes: make test-all


def migrated(env: dict[str, str]) -> dict[str, str]:
    result = run_appctl("db", "upgrade", env=env)
    assert result.returncode == 0, result.stderr
    return env


def test_result_wait_on_the_embedded_default(env: dict[str, str]) -> None:
    job_id = run_appctl("task", "send", "divide", "1", "2", env=migrated(env)).stdout.strip()
    process = start("result", "wait", "--timeout", "3600", job_id, env=env)  # only Ctrl-C ends it
    results = Path(env["APPCTL_DATA_DIR"]) / "results.sqlite"
    wait_until(lambda: has_open(process.pid, results), process, "reading the result backend")
    assert interrupt(process) == (130, "", INTERRUPTED)


def test_result_wait_on_redis(env: dict[str, str], redis_url: str) -> None:
    env = {**env, "CELERY_BROKER_URL": redis_url, "CELERY_RESULT_BACKEND": redis_url}
    job_id = run_appctl("task", "send", "divide", "1", "2", env=migrated(env)).stdout.strip()
    process = start("result", "wait", "--timeout", "3600", job_id, env=env)  # only Ctrl-C ends it
    port = int(redis_url.split(":")[2].split("/")[0])
    wait_until(lambda: bool(connections(process.pid, port)), process, "connecting to Redis")
    assert interrupt(process) == (130, "", INTERRUPTED)


def test_status_waiting_for_a_silent_database(env: dict[str, str]) -> None:
    with silent_server() as port:
        env = {**env, "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{port}/test", "APPCTL_CONNECT_TIMEOUT": "60"}
        process = start("status", env=env)
        wait_until(lambda: bool(connections(process.pid, port)), process, "connecting to the database")
        assert interrupt(process) == (130, "", INTERRUPTED)


def _write_users(path: Path, count: int) -> Path:
    path.write_text("username,email\n" + "".join(f"ctrlc{i},ctrlc{i}@example.com\n" for i in range(count)))
    return path


def test_user_import_mid_write_on_postgresql_imports_nothing(env: dict[str, str], pg_url: str, tmp_path: Path) -> None:
    env = migrated({**env, "DATABASE_URL": pg_url})
    process = start("user", "import", str(_write_users(tmp_path / "users.csv", 200_000)), env=env)
    with psycopg.connect(pg_url, autocommit=True) as watcher:

        def inserting() -> bool:
            ports = connections(process.pid, 5432)
            query = (
                "SELECT count(*) FROM pg_stat_activity WHERE client_port = ANY(%s)"
                " AND state = 'active' AND query ILIKE 'INSERT INTO users%%'"
            )
            return bool(ports) and watcher.execute(query, (ports,)).fetchone()[0] > 0  # type: ignore[index]

        wait_until(inserting, process, "inserting the users")
        assert interrupt(process) == (130, "", INTERRUPTED)
        imported = "SELECT count(*) FROM users WHERE username LIKE 'ctrlc%'"  # the schema is the session's
        assert watcher.execute(imported).fetchone() == (0,)


def test_user_import_on_sqlite_imports_nothing(env: dict[str, str], tmp_path: Path) -> None:
    migrated(env)
    process = start("user", "import", str(_write_users(tmp_path / "users.csv", 200_000)), env=env)
    database = Path(env["APPCTL_DATA_DIR"]) / "app.sqlite"
    wait_until(lambda: has_open(process.pid, database), process, "opening the database")
    assert interrupt(process) == (130, "", INTERRUPTED)
    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT count(*) FROM users").fetchone() == (0,)


def _send_from_file_interrupted(env: dict[str, str], tmp_path: Path) -> list[str]:
    """Start a 50k-line ``task send --from-file``, Ctrl-C once ids are flowing; the ids it printed."""
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text("[1, 2]\n" * 50_000)
    process = start("task", "send", "divide", "--from-file", str(jobs), env=env)
    printed = [process.stdout.readline().decode() for _ in range(1500)]  # type: ignore[union-attr]
    status, rest, stderr = interrupt(process)
    assert (status, stderr) == (130, INTERRUPTED)
    ids = [line.strip() for line in printed + rest.splitlines(keepends=True)]
    assert all(ids) and len(ids) < 50_000, "the run was not cut short"
    return ids


def _history_ids(env: dict[str, str]) -> list[str]:
    result = run_appctl("task", "history", "--limit", "0", "-o", "json", env=env)
    assert result.returncode == 0, result.stderr
    return [row["id"] for row in json.loads(result.stdout)]


def test_task_send_from_file_on_the_embedded_default(env: dict[str, str], tmp_path: Path) -> None:
    ids = _send_from_file_interrupted(migrated(env), tmp_path)
    assert sorted(_history_ids(env)) == sorted(ids)
    with sqlite3.connect(Path(env["APPCTL_DATA_DIR"]) / "broker.sqlite") as connection:
        bodies = [row[0] for row in connection.execute("SELECT payload FROM kombu_message")]
    assert sorted(json.loads(body)["headers"]["id"] for body in bodies) == sorted(ids)


def test_task_send_from_file_on_redis(env: dict[str, str], redis_url: str, tmp_path: Path) -> None:
    import redis

    env = migrated({**env, "CELERY_BROKER_URL": redis_url, "CELERY_RESULT_BACKEND": redis_url})
    ids = _send_from_file_interrupted(env, tmp_path)
    assert sorted(_history_ids(env)) == sorted(ids)
    client = redis.Redis.from_url(redis_url)
    queued = [json.loads(raw)["headers"]["id"] for raw in client.lrange(env["APPCTL_QUEUE"], 0, -1)]
    client.delete(env["APPCTL_QUEUE"])
    assert sorted(queued) == sorted(ids)


def test_user_list_streaming_100k_rows_on_postgresql(env: dict[str, str], pg_url: str) -> None:
    env = migrated({**env, "DATABASE_URL": pg_url})
    with psycopg.connect(pg_url, autocommit=True) as connection:
        connection.execute(
            "INSERT INTO users (username, email, username_key, email_key)"
            " SELECT 'many' || n, 'many' || n || '@example.com', 'many' || n, 'many' || n || '@example.com'"
            " FROM generate_series(1, 100000) AS n"
        )
    try:
        process = start("user", "list", env=env)
        for _ in range(2000):
            assert process.stdout.readline()  # type: ignore[union-attr]
        status, _, stderr = interrupt(process)
        assert (status, stderr) == (130, INTERRUPTED)
    finally:
        with psycopg.connect(pg_url, autocommit=True) as connection:
            connection.execute("DELETE FROM users WHERE username LIKE 'many%'")


def test_a_prompt_answered_by_ctrl_c(env: dict[str, str]) -> None:
    from tests.cli.terminal import run_with_ctrl_c

    before = run_appctl("db", "status", env=migrated(env)).stdout
    run = run_with_ctrl_c("db", "downgrade", "base", env=env, after="[y/N]")
    assert run.returncode == 130
    assert run.stderr.endswith("\n" + INTERRUPTED)
    assert "Aborted" not in run.stderr
    status = run_appctl("db", "status", env=env)
    assert status.stdout == before, "the downgrade must not have run"


def test_nothing_else_on_stderr_when_the_interrupt_comes_late(env: dict[str, str]) -> None:
    # A Ctrl-C as the command ends must not print a traceback: the process ends as killed by SIGINT.
    process = start("user", "list", env=migrated(env))
    status, _, stderr = interrupt(process)
    assert status in (0, 130, -2), stderr
    assert stderr in ("", INTERRUPTED)


def _unused(_: Any) -> None: ...


def _retry_interrupted(env: dict[str, str], tmp_path: Path, count: int = 5000) -> tuple[list[str], list[str]]:
    """Queue ``count`` jobs, then Ctrl-C a ``task retry --force`` of them all once its first ids are printed:
    the ids of the originals and the copies it printed."""
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text("[1, 2]\n" * count)
    sent = run_appctl("task", "send", "divide", "--from-file", str(jobs), env=env)
    assert sent.returncode == 0, sent.stderr
    originals = sent.stdout.split()
    process = start("task", "retry", "--force", *originals, env=env)
    first = process.stdout.readline().decode()  # type: ignore[union-attr]
    status, rest, stderr = interrupt(process)
    assert (status, stderr) == (130, INTERRUPTED)  # not finished first: the copies take more than a batch
    copies = [line.strip() for line in [first, *rest.splitlines(keepends=True)]]
    assert all(copies) and 0 < len(copies) < count and len(copies) % 1000 == 0, len(copies)
    return originals, copies


def _retried_in_history(env: dict[str, str], originals: list[str]) -> dict[str, str]:
    """The copies in the history: copy id -> the original it retries."""
    listed = run_appctl("task", "history", "--limit", "0", "-o", "json", env=env)
    assert listed.returncode == 0, listed.stderr
    return {row["id"]: row["retry_of"] for row in json.loads(listed.stdout) if row["retry_of"]}


def test_task_retry_prints_every_copy_sent_on_the_embedded_default(env: dict[str, str], tmp_path: Path) -> None:
    originals, copies = _retry_interrupted(migrated(env), tmp_path)
    retried = _retried_in_history(env, originals)
    assert list(retried.values()) and sorted(retried) == sorted(copies)
    assert sorted(retried.values()) == sorted(originals[: len(copies)])  # the order given
    with sqlite3.connect(Path(env["APPCTL_DATA_DIR"]) / "broker.sqlite") as connection:
        bodies = [row[0] for row in connection.execute("SELECT payload FROM kombu_message")]
    assert sorted(json.loads(body)["headers"]["id"] for body in bodies) == sorted(originals + copies)


def test_task_retry_prints_every_copy_sent_on_redis_and_postgresql(
    env: dict[str, str], redis_url: str, pg_url: str, tmp_path: Path
) -> None:
    import redis

    env = migrated({**env, "DATABASE_URL": pg_url, "CELERY_BROKER_URL": redis_url, "CELERY_RESULT_BACKEND": redis_url})
    originals, copies = _retry_interrupted(env, tmp_path, 20_000)  # Redis and PostgreSQL are quick
    assert sorted(_retried_in_history(env, originals)) == sorted(copies)
    client = redis.Redis.from_url(redis_url)
    queued = [json.loads(raw)["headers"]["id"] for raw in client.lrange(env["APPCTL_QUEUE"], 0, -1)]
    client.delete(env["APPCTL_QUEUE"])
    assert sorted(queued) == sorted(originals + copies)


@pytest.mark.parametrize("command", ["retry", "send --from-file"])
def test_a_ctrl_c_once_every_batch_is_sent_still_prints_every_job_sent(
    env: dict[str, str], tmp_path: Path, command: str
) -> None:
    """Another writer holds the history's lock until every batch is sent, so the Ctrl-C comes while the
    last batches wait to be recorded: each is printed once recorded, then exit 130."""
    import signal

    env = {**migrated(env), "APPCTL_SQLITE_BUSY_TIMEOUT": "60"}
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text("[1, 2]\n" * 3000)
    args, expected = ["task", "send", "divide", "--from-file", str(jobs)], 3000
    if command == "retry":
        sent = run_appctl(*args, env=env)
        assert sent.returncode == 0, sent.stderr
        args, expected = ["task", "retry", "--force", *sent.stdout.split()], 6000
    data = Path(env["APPCTL_DATA_DIR"])

    def queued() -> int:
        try:
            with sqlite3.connect(data / "broker.sqlite") as broker:
                return int(broker.execute("SELECT count(*) FROM kombu_message").fetchone()[0])
        except sqlite3.OperationalError:  # no table before the first message
            return 0

    lock = sqlite3.connect(data / "app.sqlite", isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")  # the history cannot record until this ends
    try:
        process = start(*args, env=env)
        wait_until(lambda: queued() == expected, process, "every batch was sent")
        process.send_signal(signal.SIGINT)
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    out, err = process.communicate(timeout=120)
    assert (process.returncode, err.decode()) == (130, INTERRUPTED)
    assert len(out.split()) == 3000


def test_task_send_interrupted_while_the_broker_takes_the_job_prints_its_id(
    env: dict[str, str], tmp_path: Path
) -> None:
    """Ctrl-C while the publish waits on a slow broker: once the broker has the job, its id is printed."""
    import redis

    from tests.redis_server import private_redis

    with private_redis(tmp_path) as server:
        env = migrated({**env, "CELERY_BROKER_URL": server.url(1), "CELERY_RESULT_BACKEND": server.url(2)})
        server.pause()  # connections are accepted, nothing is answered
        process = start("task", "send", "divide", "1", "2", env=env)
        wait_until(lambda: bool(connections(process.pid, server.port)), process, "waiting on the broker")
        process.send_signal(signal.SIGINT)
        server.resume()  # the broker takes the job after the Ctrl-C
        code, out, err = interrupt(process)
        queued = redis.Redis.from_url(server.url(1)).llen(env["APPCTL_QUEUE"])
    assert (code, err) == (130, INTERRUPTED)
    assert queued == 1 and len(out.split()) == 1  # the job the broker has is named on stdout


def test_db_upgrade_on_sqlite_finishes_then_says_where_it_got(env: dict[str, str]) -> None:
    """SQLite's schema changes are not rolled back, so a Ctrl-C waits for the upgrade's end: stderr says
    where the database got, then "interrupted" (exit 130). The test holds the database's write lock
    until the Ctrl-C is sent, so it comes while the upgrade runs."""
    env = {**env, "APPCTL_SQLITE_BUSY_TIMEOUT": "60"}
    assert run_appctl("db", "upgrade", "0006", env=env).returncode == 0
    database = Path(env["APPCTL_DATA_DIR"]) / "app.sqlite"
    writer = sqlite3.connect(database, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        process = start("db", "upgrade", env=env)
        wait_until(lambda: has_open(process.pid, database), process, "opening the database")
        process.send_signal(signal.SIGINT)
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    out, stderr = process.communicate(timeout=120)
    assert (process.returncode, out, stderr) == (
        130,
        b"",
        b"Database migrated from 0006 to 0007.\n" + INTERRUPTED.encode(),
    )
    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [("0007",)]
