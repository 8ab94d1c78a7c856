"""Bulk work: fan-out from a file, importing users, and the memory of a streamed list."""

from __future__ import annotations

import csv
import json
import sqlite3
import statistics
import subprocess
import sys
from pathlib import Path

import redis

from tests.bench.conftest import environment, fresh_copy, migrate
from tests.bench.measure import interleaved_medians, peak_rss_mb, run_timed
from tests.bench.report import Report, Row, times
from tests.conftest import APPCTL

JOBS = 20_000
DELAY_LOOP_JOBS = 2_000
FAN_OUT_RUNS = 5
USERS = 100_000
IMPORT_RUNS = 5
RAW_IMPORT = """
import csv, sqlite3, sys
database = sqlite3.connect(sys.argv[2])
with open(sys.argv[1], newline="") as source, database:
    rows = csv.reader(source)
    next(rows)
    keyed = ((name, email, name.casefold(), email.casefold()) for name, email in rows)
    database.executemany("INSERT INTO users (username, email, username_key, email_key) VALUES (?, ?, ?, ?)", keyed)
"""


def test_fan_out_from_a_file_to_redis(report: Report, redis_env: dict[str, str], tmp_path: Path) -> None:
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text("".join(json.dumps([number, 7]) + "\n" for number in range(JOBS)))
    queue = redis.Redis.from_url(redis_env["CELERY_BROKER_URL"])
    delay_loop = [sys.executable, str(Path(__file__).with_name("delay_loop.py")), str(DELAY_LOOP_JOBS)]

    def fan_out() -> float:
        return JOBS / run_timed([APPCTL, "task", "send", "divide", "--from-file", str(jobs)], redis_env)

    def reference(*mode: str) -> float:
        done = subprocess.run([*delay_loop, *mode], env=redis_env, capture_output=True, text=True, check=True)
        return float(done.stdout)

    # The chapter's delay() keeps no history ("bare"): that is the reference. The loop with appctl's
    # history on is measured too, as before.
    ours, bare, with_history = interleaved_medians(
        FAN_OUT_RUNS, fan_out, lambda: reference("bare"), reference, warmup=0
    )
    queue.delete(redis_env["APPCTL_QUEUE"])
    ratio = ours / bare
    report.add(
        3,
        Row(
            f"{JOBS // 1000}k-line `task send --from-file` to Redis, whole process",
            f"{ours:,.0f} jobs/s",
            f"the chapter's `delay()` loop in one warmed-up process, history off: {bare:,.0f} jobs/s"
            f" (with appctl's job history on: {with_history:,.0f} jobs/s, {times(ours / with_history)})",
            times(ratio),
            "≥ 10× its rate",
            ratio >= 10,
            {
                "appctl_jobs_per_s": ours,
                "reference_jobs_per_s": bare,
                "reference_with_history_jobs_per_s": with_history,
                "runs": FAN_OUT_RUNS,
                "statistic": "median",
            },
        ),
    )


def test_import_users_from_csv(report: Report, tmp_path: Path) -> None:
    source = tmp_path / "users.csv"
    with source.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["username", "email"])
        writer.writerows((f"user{n}", f"user{n}@example.com") for n in range(USERS))
    env = environment(tmp_path / "data")
    migrate(env)
    empty = tmp_path / "empty.sqlite"
    fresh_copy(tmp_path / "data" / "app.sqlite", empty)  # a migrated database without users, for every run
    database = tmp_path / "data" / "app.sqlite"
    raw = tmp_path / "raw.sqlite"

    def appctl() -> float:
        fresh_copy(empty, database)
        return run_timed([APPCTL, "user", "import", str(source)], env)

    def reference() -> float:
        fresh_copy(empty, raw)
        return run_timed([sys.executable, "-c", RAW_IMPORT, str(source), str(raw)], env)

    ours, theirs = interleaved_medians(IMPORT_RUNS, appctl, reference)
    with sqlite3.connect(database) as check:
        assert check.execute("SELECT count(*) FROM users").fetchone()[0] == USERS
    ratio = ours / theirs
    report.add(
        4,
        Row(
            f"`user import` of {USERS // 1000}k CSV rows, whole process",
            f"{ours:.2f} s",
            f"raw sqlite3 `executemany` script on the same CSV: {theirs:.2f} s",
            times(ratio),
            "≤ 3× its time",
            ratio <= 3,
            {"appctl_s": ours, "reference_s": theirs, "runs": IMPORT_RUNS, "statistic": "median wall time"},
        ),
    )


def users_database(tmp_path: Path, count: int) -> dict[str, str]:
    """An environment whose database holds ``count`` users (written directly: the set-up is not measured)."""
    env = environment(tmp_path / f"users-{count}")
    migrate(env)
    with sqlite3.connect(Path(env["APPCTL_DATA_DIR"]) / "app.sqlite") as database:
        rows = ((f"user{n}", f"user{n}@example.com") for n in range(count))
        keyed = ((name, email, name.casefold(), email.casefold()) for name, email in rows)  # the unique keys
        database.executemany("INSERT INTO users (username, email, username_key, email_key) VALUES (?, ?, ?, ?)", keyed)
    return env


def test_list_memory_does_not_grow_with_users(report: Report, tmp_path: Path) -> None:
    command = [APPCTL, "user", "list", "-o", "jsonl"]
    small, large = users_database(tmp_path, 1_000), users_database(tmp_path, 1_000_000)
    small_mb = statistics.median(peak_rss_mb(command, small) for _ in range(3))
    large_mb = peak_rss_mb(command, large)
    ratio = large_mb / small_mb
    report.add(
        5,
        Row(
            "`user list -o jsonl` peak memory at 1M users",
            f"{large_mb:.1f} MiB",
            f"the same at 1k users: {small_mb:.1f} MiB",
            times(ratio),
            "≤ 1.5×",
            ratio <= 1.5,
            {"large_mib": large_mb, "small_mib": small_mb, "statistic": "peak RSS (small: median of 3)"},
        ),
    )
