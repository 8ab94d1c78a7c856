"""`task retry --state FAILURE` of 10k failed jobs against a 10k-line `task send --from-file`, both to Redis."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import redis

from tests.bench.measure import interleaved_medians, run_timed
from tests.bench.report import Report, Row, times
from tests.conftest import APPCTL

JOBS = 10_000
RUNS = 5
# The failed jobs, written by the database itself (not measured): what a night of failures leaves.
FAILED_JOBS = """
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count)
INSERT INTO jobs (id, state, name, args, kwargs, queue, sent_at, finished_at, error_type, error_message, retries)
SELECT lower(hex(randomblob(16))), 'FAILURE', 'project.users.tasks.divide', '[' || i || ', 0]', '{}', :queue,
       strftime('%Y-%m-%d %H:%M:%S', '2026-01-01', '+' || i || ' seconds') || '.000000',
       strftime('%Y-%m-%d %H:%M:%S', '2026-01-01', '+' || i || ' seconds') || '.500000',
       'ZeroDivisionError', 'division by zero', 0
FROM n
"""


def test_retry_by_selection_sends_like_a_fan_out(report: Report, redis_env: dict[str, str], tmp_path: Path) -> None:
    queue = redis_env["APPCTL_QUEUE"]
    with sqlite3.connect(Path(redis_env["APPCTL_DATA_DIR"]) / "app.sqlite") as database:
        database.execute(FAILED_JOBS, {"count": JOBS, "queue": queue})
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text("".join(json.dumps([number, 7]) + "\n" for number in range(JOBS)))
    broker = redis.Redis.from_url(redis_env["CELERY_BROKER_URL"])
    retry = [APPCTL, "task", "retry", "--state", "FAILURE", "--yes", "-q"]
    fan_out = [APPCTL, "task", "send", "divide", "--from-file", str(jobs)]

    def timed(command: list[str]) -> float:
        seconds = run_timed(command, redis_env)
        assert broker.llen(queue) == JOBS  # every job reached the queue
        broker.delete(queue)
        return seconds

    def timed_retry() -> float:
        seconds = timed(retry)
        # A retry by filter leaves out the jobs retried before: unmark them (not measured), so that
        # each run retries the same 10,000 failures again. Their copies are PENDING: never selected.
        with sqlite3.connect(Path(redis_env["APPCTL_DATA_DIR"]) / "app.sqlite") as database:
            database.execute("UPDATE jobs SET retried_by = NULL WHERE queue = ? AND state = 'FAILURE'", (queue,))
        return seconds

    ours, theirs = interleaved_medians(RUNS, timed_retry, lambda: timed(fan_out))
    ratio = ours / theirs
    report.add(
        8,
        Row(
            f"`task retry --state FAILURE` of {JOBS // 1000}k failed jobs to Redis, whole process",
            f"{ours:.2f} s",
            f"a {JOBS // 1000}k-line `task send --from-file` to the same Redis: {theirs:.2f} s",
            times(ratio),
            "≤ 1.5× its time",
            ratio <= 1.5,
            {"appctl_s": ours, "reference_s": theirs, "runs": RUNS, "statistic": "median wall time"},
        ),
    )
