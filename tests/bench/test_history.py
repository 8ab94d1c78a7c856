"""`task history --limit 100` with a million jobs in the history against a thousand, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.bench.conftest import environment, migrate
from tests.bench.measure import interleaved_medians, run_timed
from tests.bench.report import Report, Row, times
from tests.conftest import APPCTL

LARGE, SMALL = 1_000_000, 1_000
RUNS = 7
COMMAND = [APPCTL, "task", "history", "--limit", "100", "-o", "jsonl"]
# The jobs, written by the database itself (the set-up is not measured): one a second, newest last,
# random ids, most of them finished.
SQLITE_JOBS = """
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count)
INSERT INTO jobs (id, state, name, args, kwargs, queue, sent_at, started_at, finished_at, result, retries)
SELECT lower(hex(randomblob(16))), CASE i % 10 WHEN 0 THEN 'FAILURE' WHEN 1 THEN 'PENDING' ELSE 'SUCCESS' END,
       'project.users.tasks.divide', '[' || i || ', 2]', '{}', 'celery',
       strftime('%Y-%m-%d %H:%M:%S', '2026-01-01', '+' || i || ' seconds') || '.000000',
       NULL, NULL, CAST(i / 2.0 AS TEXT), 0
FROM n
"""
POSTGRES_JOBS = """
INSERT INTO jobs (id, state, name, args, kwargs, queue, sent_at, result, retries)
SELECT gen_random_uuid()::text, CASE mod(i, 10) WHEN 0 THEN 'FAILURE' WHEN 1 THEN 'PENDING' ELSE 'SUCCESS' END,
       'project.users.tasks.divide', json_build_array(i, 2), '{}'::json, 'celery',
       timestamptz '2026-01-01 00:00:00+00' + i * interval '1 second', to_json(i / 2.0), 0
FROM generate_series(1, %(count)s) AS i
"""


def sqlite_history(data_dir: Path, count: int) -> dict[str, str]:
    """The embedded default with ``count`` jobs in its history."""
    env = environment(data_dir)
    migrate(env)
    with sqlite3.connect(data_dir / "app.sqlite") as database:
        database.execute(SQLITE_JOBS, {"count": count})
    return env


def postgres_history(data_dir: Path, url: str, count: int) -> dict[str, str]:
    """The app on PostgreSQL (a fresh schema) with ``count`` jobs in its history, analysed as autovacuum would."""
    import psycopg

    env = environment(data_dir, DATABASE_URL=url)
    migrate(env)
    with psycopg.connect(url, autocommit=True) as database:
        database.execute(POSTGRES_JOBS, {"count": count})
        database.execute("ANALYZE jobs")
    return env


@pytest.fixture(params=["SQLite", "PostgreSQL"])
def histories(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, dict[str, str], dict[str, str]]]:
    """(database, environment with LARGE jobs, environment with SMALL jobs)."""
    if request.param == "SQLite":
        yield request.param, sqlite_history(tmp_path / "large", LARGE), sqlite_history(tmp_path / "small", SMALL)
        return
    from tests.conftest import fresh_pg_schema

    with ExitStack() as schemas:
        large, small = (schemas.enter_context(fresh_pg_schema("appctl_bench")) for _ in range(2))
        yield (
            request.param,
            postgres_history(tmp_path / "large", large, LARGE),
            postgres_history(tmp_path / "small", small, SMALL),
        )


def test_history_listing_does_not_grow_with_the_history(
    report: Report, histories: tuple[str, dict[str, str], dict[str, str]]
) -> None:
    database, large, small = histories
    listed = subprocess.run(COMMAND, env=large, capture_output=True, text=True, check=True).stdout
    assert listed.count("\n") == 100 and f'"args": [{LARGE}, 2]' in listed.splitlines()[0]  # the newest first
    ours, theirs = interleaved_medians(RUNS, lambda: run_timed(COMMAND, large), lambda: run_timed(COMMAND, small))
    ratio = ours / theirs
    report.add(
        23 if database == "SQLite" else 24,
        Row(
            f"`task history --limit 100` with 1M jobs in the history: {database}",
            f"{ours * 1000:.0f} ms",
            f"the same with 1k jobs: {theirs * 1000:.0f} ms",
            times(ratio),
            "≤ 2× its time",
            ratio <= 2,
            {"appctl_s": ours, "reference_s": theirs, "runs": RUNS, "statistic": "median wall time"},
        ),
    )
