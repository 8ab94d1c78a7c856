"""`task send --wait` round trips with divide's delay at 0: on Redis against the job's own run time, and embedded.

Measured in one process with the functions `task send --wait` calls (start-up has its own rows),
against a real worker process; the job's own run time is what that worker logs for each job.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.bench.measure import percentile
from tests.bench.report import Report, Row
from tests.conftest import APPCTL
from tests.processes import worker_process

WARMUP = 20
SAMPLES = 200
EMBEDDED_SAMPLES = 60
SETTINGS = ("APPCTL_DATA_DIR", "APPCTL_QUEUE", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND")


@contextmanager
def app_for(env: dict[str, str]) -> Iterator[Any]:
    """The factory-built app, in this process, configured like ``env``."""
    from project import create_app

    with pytest.MonkeyPatch.context() as patch:
        for name in SETTINGS:
            if name in env:
                patch.setenv(name, env[name])
            else:
                patch.delenv(name, raising=False)
        app = create_app()
        with app.app_context():
            yield app


def round_trips(env: dict[str, str], log: Path, samples: int) -> tuple[list[float], list[float]]:
    """Seconds from sending to having the result, and the job's own run times the worker logged."""
    from project.jobs.results import wait_for_results
    from project.jobs.send import send_job

    worker_env = {**env, "APPCTL_DIVIDE_DELAY": "0"}
    command = [APPCTL, "worker", "-P", "solo", "--loglevel=info", "--without-heartbeat", "--without-mingle"]
    measured = []
    with worker_process(command, worker_env, log) as worker, app_for(env):
        for number in range(WARMUP + samples):
            start = time.perf_counter()
            task_id = send_job("divide", [number, 2], to_wait_for=True)
            [state] = wait_for_results([task_id], timeout=30)
            measured.append(time.perf_counter() - start)
            assert state["result"] == number / 2
        runs = [float(seconds) for seconds in re.findall(r"succeeded in ([0-9.e-]+)s", worker.log())]
    return measured[WARMUP:], runs[WARMUP:]


def test_round_trip_on_redis(report: Report, redis_env: dict[str, str], tmp_path: Path) -> None:
    measured, runs = round_trips(redis_env, tmp_path / "worker.log", SAMPLES)
    trip, run = percentile(measured, 0.5), percentile(runs, 0.5)
    added = trip - run
    report.add(
        6,
        Row(
            "`task send --wait` round trip, divide delay 0: Redis",
            f"{trip * 1000:.1f} ms p50",
            f"the job's own run time: {run * 1000:.2f} ms p50",
            f"adds {added * 1000:.1f} ms",
            "adds ≤ 10 ms p50",
            added <= 0.010,
            {
                "round_trip_p50_s": trip,
                "round_trip_p90_s": percentile(measured, 0.9),
                "job_run_p50_s": run,
                "samples": len(measured),
            },
        ),
    )


def test_round_trip_embedded(report: Report, embedded_env: dict[str, str], tmp_path: Path) -> None:
    measured, runs = round_trips(embedded_env, tmp_path / "worker.log", EMBEDDED_SAMPLES)
    trip = percentile(measured, 0.5)
    report.add(
        7,
        Row(
            "`task send --wait` round trip, divide delay 0: embedded",
            f"{trip * 1000:.0f} ms p50",
            f"the job's own run time: {percentile(runs, 0.5) * 1000:.2f} ms p50",
            "— (no reference)",
            "≤ 0.3 s p50",
            trip <= 0.3,
            {
                "round_trip_p50_s": trip,
                "round_trip_p90_s": percentile(measured, 0.9),
                "job_run_p50_s": percentile(runs, 0.5),
                "samples": len(measured),
            },
        ),
    )
