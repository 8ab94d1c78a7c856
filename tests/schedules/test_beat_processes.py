"""Real `appctl beat` and worker processes, on the embedded default and on Redis + PostgreSQL: a schedule
every second runs N times in N seconds (give or take one) with two beats and no duplicates, killing the
leader hands over within the lease bound, disabling stops the runs within 5 s.

On the embedded default the standby is `appctl worker --beat` (the worker and a beat in one process),
on Redis + PostgreSQL a second `appctl beat` beside an `appctl worker`."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import APPCTL, fresh_pg_schema, run_appctl
from tests.jobs.waiting import wait_for
from tests.processes import kill_group, start_worker, stop_process_group, worker_command, worker_process

LEASE = 3  # APPCTL_BEAT_LEASE here: the standby takes over within LEASE + POLL_SECONDS (docs/operations.md)
POLL = 0.5  # project/schedules/beat.py POLL_SECONDS
WINDOW = 30  # seconds watched with two beats running
SLACK = 2  # seconds a loaded machine may add to a handover
DISABLE_BOUND = 5  # seconds: a change applies within this (docs/operations.md)
pytestmark = pytest.mark.slow


@pytest.fixture(params=["embedded", pytest.param("services", marks=pytest.mark.services)])
def beat_env(request: pytest.FixtureRequest, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The environment of the beats, worker and this test: migrated, lease LEASE seconds."""
    settings = {"APPCTL_BEAT_LEASE": str(LEASE)}
    with fresh_pg_schema() if request.param == "services" else nullcontext() as pg_url:
        if pg_url:
            redis_url = request.getfixturevalue("redis_url")
            settings.update(DATABASE_URL=pg_url, CELERY_BROKER_URL=redis_url, CELERY_RESULT_BACKEND=redis_url)
        for name, value in settings.items():
            monkeypatch.setenv(name, value)
        env.update(settings)
        upgraded = run_appctl("db", "upgrade", env=env)
        assert upgraded.returncode == 0, upgraded.stderr
        yield env


@pytest.fixture
def history(beat_env: dict[str, str]) -> Iterator[Any]:
    """This test's own app, to read the job history the beats and the worker write."""
    from project import create_app
    from project.extensions import db

    app = create_app("testing")
    with app.app_context():
        yield app
        db.engine.dispose()


def runs_of(name: str) -> list[dict[str, Any]]:
    """The schedule's runs in the job history, oldest first."""
    from project.jobs.history.read import list_history

    return list(reversed(list(list_history(schedule=name, limit=None))))


def sent_at(run: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(run["sent_at"])


def log_of(path: Path) -> str:
    return path.read_text(errors="replace")


def wait_in_log(path: Path, text: str, what: str) -> None:
    wait_for(lambda: text in log_of(path), timeout=90, what=what)


def test_two_beats_one_schedule_every_second(beat_env: dict[str, str], history: Any, tmp_path: Path) -> None:
    beat_a, beat_b = tmp_path / "beat-a.log", tmp_path / "beat-b.log"
    embedded = "DATABASE_URL" not in beat_env
    standby_command = [*worker_command("scheduled"), "--beat"] if embedded else [APPCTL, "beat", "-l", "info"]
    worker = nullcontext() if embedded else worker_process(worker_command("scheduled"), beat_env, tmp_path / "w.log")
    leader = start_worker([APPCTL, "beat", "-l", "info"], beat_env, beat_a)  # starts while the worker does
    standby = None
    try:
        with worker:
            wait_in_log(beat_a, "holds the lease", "beat A to take the lease")
            standby = start_worker(standby_command, beat_env, beat_b)
            added = run_appctl("schedule", "add", "every-second", "divide", "1", "2", "--every", "1s", env=beat_env)
            assert added.returncode == 0, added.stderr
            wait_in_log(beat_b, "beat: Starting", "beat B to start")
            both_up = datetime.now(UTC)

            # N runs in N seconds, give or take one, and never two for one second with two beats running.
            after_both_up = lambda: [r for r in runs_of("every-second") if sent_at(r) > both_up]  # noqa: E731
            first = sent_at(wait_for(after_both_up, timeout=90, what="a run with both beats up")[0])
            end = first + timedelta(seconds=WINDOW)
            wait_for(lambda: any(sent_at(r) >= end for r in runs_of("every-second")), timeout=120, what="30 s of runs")
            window = [run for run in runs_of("every-second") if first <= sent_at(run) < end]
            assert WINDOW - 1 <= len(window) <= WINDOW + 1
            assert "sent job" not in log_of(beat_b)  # one dispatcher: the standby sent nothing
            ids = {run["id"] for run in window}
            done = lambda: {r["id"] for r in runs_of("every-second") if r["state"] == "SUCCESS"} >= ids  # noqa: E731
            wait_for(done, timeout=90, what="the worker to run every run")

            # Kill the leader: the standby sends the next runs within the lease's bound.
            kill_group(leader)
            last_before = sent_at(runs_of("every-second")[-1])
            wait_in_log(beat_b, "holds the lease", "beat B to take over")
            wait_for(lambda: "sent job" in log_of(beat_b), timeout=90, what="beat B to send a run")
            after_kill = [run for run in runs_of("every-second") if sent_at(run) > last_before]
            handover_gap = (sent_at(after_kill[0]) - last_before).total_seconds()
            assert handover_gap <= LEASE + POLL + 1 + SLACK  # + 1: the run due right after the takeover

            # Change its arguments: the runs take them within DISABLE_BOUND seconds, with no restart.
            changed = run_appctl("schedule", "update", "every-second", "4", "2", env=beat_env)
            assert changed.returncode == 0, changed.stderr
            changed_at = datetime.now(UTC)
            new_args = wait_for(
                lambda: [r for r in runs_of("every-second") if r["args"] == [4, 2]],
                timeout=90,
                what="a run with new args",
            )
            assert sent_at(new_args[0]) <= changed_at + timedelta(seconds=DISABLE_BOUND)

            # Disable it: no run starts more than DISABLE_BOUND seconds later.
            disabled = run_appctl("schedule", "disable", "every-second", env=beat_env)
            assert disabled.returncode == 0, disabled.stderr
            disabled_at = datetime.now(UTC)
            time.sleep(DISABLE_BOUND + 1)
            late = [run for run in runs_of("every-second") if sent_at(run) > disabled_at + timedelta(seconds=5)]
            assert late == []
    finally:
        for process in (leader, standby):
            if process is not None:
                stop_process_group(process)
    assert "Traceback" not in log_of(beat_a) + log_of(beat_b)
