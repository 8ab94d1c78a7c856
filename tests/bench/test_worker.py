"""Worker throughput: `appctl worker -c 2` with the job history (SQLite, PostgreSQL) against a plain Celery app.

Each run queues the same 5,000 ``divide(x, 2)`` jobs on Redis (``task send --from-file``, not timed), then
starts a worker, prefork with two processes, and times it from the moment it takes the first job until the
result backend holds every result. appctl's worker is then stopped warm (SIGTERM), and its history must
hold every job as SUCCESS. The runs alternate: appctl on SQLite, the reference, appctl on PostgreSQL, the
reference, and so on; each figure is a median.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.bench.conftest import BIN, ROOT, environment, migrate
from tests.bench.report import Report, Row, times
from tests.conftest import APPCTL, HANG, fresh_pg_schema
from tests.processes import kill_group, start_worker

JOBS = int(os.environ.get("BENCH_WORKER_JOBS", "5000"))
RUNS = int(os.environ.get("BENCH_WORKER_RUNS", "5"))
TARGET = 0.85
WORKER_OPTIONS = ("-c", "2", "-P", "prefork", "-l", "warning", "--without-mingle", "--without-gossip")
POLL = 0.005  # seconds between reads of the queue while timing
META = "celery-task-meta-"


def queue_jobs(env: dict[str, str], jobs_file: Path) -> list[str]:
    """Queue the jobs (one history row each in appctl's database); return their ids."""
    sent = subprocess.run(
        [APPCTL, "task", "send", "divide", "--from-file", str(jobs_file)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=HANG,
    )
    ids = sent.stdout.split()
    assert len(ids) == JOBS
    return ids


def all_done(client: redis.Redis, ids: list[str]) -> bool:
    """Whether the result backend holds a result for every id."""
    return all(value is not None for value in client.mget([META + task_id for task_id in ids]))


def drain(command: list[str], env: dict[str, str], ids: list[str], log: Path) -> tuple[float, subprocess.Popen[bytes]]:
    """Start the worker; return jobs per second from its first job taken to the last result stored, and the worker."""
    client = redis.Redis.from_url(env["CELERY_BROKER_URL"])
    queue = env["APPCTL_QUEUE"]
    assert client.llen(queue) == len(ids)
    worker = start_worker(command, env, log, cwd=ROOT)
    deadline = time.monotonic() + HANG
    while client.llen(queue) == len(ids):
        assert worker.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(POLL)
    started = time.perf_counter()
    while client.llen(queue) or not all_done(client, ids):
        assert worker.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(POLL)
    return len(ids) / (time.perf_counter() - started), worker


def stop_warm(worker: subprocess.Popen[bytes]) -> None:
    """SIGTERM the worker's main process (a warm shutdown) and wait for it; kill what is left."""
    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(timeout=HANG)
    finally:
        kill_group(worker)


def history_states(env: dict[str, str], ids: list[str]) -> dict[str, int]:
    """How many of ``ids`` the history holds in each state."""
    wanted = set(ids)
    if env.get("DATABASE_URL"):
        import psycopg

        with psycopg.connect(env["DATABASE_URL"]) as connection:
            rows = connection.execute("SELECT id, state FROM jobs").fetchall()
    else:
        with sqlite3.connect(Path(env["APPCTL_DATA_DIR"]) / "app.sqlite") as connection:
            rows = connection.execute("SELECT id, state FROM jobs").fetchall()
    counts: dict[str, int] = {}
    for task_id, state in rows:
        if task_id in wanted:
            counts[state] = counts.get(state, 0) + 1
    return counts


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL schema (TEST_DATABASE_URL), dropped afterwards."""
    if not os.environ.get("TEST_DATABASE_URL"):
        pytest.skip("TEST_DATABASE_URL is not set: the PostgreSQL half needs it")
    with fresh_pg_schema("appctl_bench") as url:
        yield url


def test_worker_throughput_with_the_history(
    report: Report, bench_redis: str, postgres_url: str, tmp_path: Path
) -> None:
    jobs_file = tmp_path / "jobs.jsonl"
    jobs_file.write_text("".join(f"[{number}, 2]\n" for number in range(JOBS)))
    services = {"CELERY_BROKER_URL": bench_redis, "CELERY_RESULT_BACKEND": bench_redis, "APPCTL_DIVIDE_DELAY": "0"}
    envs = {
        "sqlite": environment(tmp_path / "sqlite", **services),
        "postgresql": environment(tmp_path / "postgresql", DATABASE_URL=postgres_url, **services),
    }
    for env in envs.values():
        migrate(env)
    client = redis.Redis.from_url(bench_redis)
    load_before = os.getloadavg()

    def appctl(database: str) -> Callable[[], float]:
        def run() -> float:
            env = envs[database]
            ids = queue_jobs(env, jobs_file)
            rate, worker = drain([APPCTL, "worker", *WORKER_OPTIONS], env, ids, tmp_path / f"{database}.log")
            stop_warm(worker)  # a warm shutdown writes what the worker still held
            assert history_states(env, ids) == {"SUCCESS": JOBS}
            client.delete(*[META + task_id for task_id in ids])
            return rate

        return run

    def reference() -> float:
        env = envs["sqlite"]
        ids = queue_jobs(env, jobs_file)
        command = [str(BIN / "celery"), "-A", "tests.bench.plain_celery", "worker", *WORKER_OPTIONS]
        rate, worker = drain(command, env, ids, tmp_path / "plain.log")
        stop_warm(worker)
        client.delete(*[META + task_id for task_id in ids])
        return rate

    samples: dict[str, list[float]] = {"sqlite": [], "postgresql": [], "plain": []}
    try:
        for _ in range(RUNS):
            samples["sqlite"].append(appctl("sqlite")())
            samples["plain"].append(reference())
            samples["postgresql"].append(appctl("postgresql")())
            samples["plain"].append(reference())
    finally:
        for env in envs.values():
            queue = env["APPCTL_QUEUE"]
            client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
    plain = statistics.median(samples["plain"])
    load = {"before": load_before, "after": os.getloadavg()}
    print(f"\nworker throughput, jobs/s, each run: {samples}; load average {load}")
    for position, (database, label) in enumerate((("sqlite", "SQLite"), ("postgresql", "PostgreSQL")), start=20):
        ours = statistics.median(samples[database])
        ratio = ours / plain
        print(f"appctl worker -c 2, history on {label}: {ours:,.0f} jobs/s vs plain Celery {plain:,.0f} jobs/s")
        report.add(position, throughput_row(label, ours, plain, ratio, samples[database], samples["plain"], load))


def throughput_row(
    label: str, ours: float, plain: float, ratio: float, runs: list[float], plain_runs: list[float], load: Any
) -> Row:
    """The table row of one database."""
    return Row(
        f"{JOBS:,} `divide(x, 2)` jobs from Redis, `appctl worker -c 2`, history on {label}",
        f"{ours:,.0f} jobs/s",
        f"plain Celery app, same settings, no history, `celery worker -c 2`: {plain:,.0f} jobs/s",
        times(ratio),
        f"≥ {TARGET}× its rate",
        ratio >= TARGET,
        {
            "appctl_jobs_per_s": ours,
            "reference_jobs_per_s": plain,
            "appctl_runs": runs,
            "reference_runs": plain_runs,
            "runs": RUNS,
            "statistic": "median; timed from the first job taken to the last result stored",
            "load_average": load,
        },
    )
