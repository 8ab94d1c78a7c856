"""The lease and the dispatch, on SQLite and PostgreSQL, with a controlled clock: one holder at a time,
takeover once it expires, each due run claimed once, and at most one catch-up run after downtime."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from tests.conftest import fresh_pg_schema

LEASE = 10.0


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def schedule_app(request: pytest.FixtureRequest, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The app on a migrated database of its own (SQLite, or a fresh PostgreSQL schema)."""
    from project import create_app
    from project.migrations import upgrade_database

    with fresh_pg_schema() if request.param == "postgresql" else nullcontext() as url:
        if url:
            monkeypatch.setenv("DATABASE_URL", url)
        flask_app = create_app("testing")
        with flask_app.app_context():
            upgrade_database()
            yield flask_app
            from project.extensions import db

            db.engine.dispose()


def test_one_holder_at_a_time_and_takeover_only_after_expiry(schedule_app: Any) -> None:
    from project.extensions import db
    from project.schedules.lease import release_lease, take_lease
    from project.schedules.models import leases

    now = datetime.now(UTC)
    assert take_lease("a", LEASE, now)
    assert not take_lease("b", LEASE, now + timedelta(seconds=1))
    assert take_lease("a", LEASE, now + timedelta(seconds=5))  # renewed until now + 15 s
    assert not take_lease("b", LEASE, now + timedelta(seconds=14))
    assert take_lease("b", LEASE, now + timedelta(seconds=15.5))  # a's lease expired: b takes over
    assert not take_lease("a", LEASE, now + timedelta(seconds=16))
    with db.engine.connect() as conn:
        held = conn.execute(select(leases.c.holder, leases.c.expires_at)).all()
    assert [tuple(row) for row in held] == [("b", now + timedelta(seconds=25.5))]
    release_lease("b")
    assert take_lease("a", LEASE, now + timedelta(seconds=17))  # released: no wait


def _add(name: str, **spec: Any) -> dict[str, Any]:
    from project.schedules.service import add_schedule

    return add_schedule(name, "divide", [1, 2], {}, **spec)


def _set_next_run(name: str, when: datetime) -> None:
    from project.extensions import db
    from project.schedules.models import schedules

    with db.engine.begin() as conn:
        conn.execute(update(schedules).where(schedules.c.name == name).values(next_run_at=when, anchor=when))


def _runs(name: str) -> list[dict[str, Any]]:
    from project.jobs.history.read import list_history

    return list(list_history(schedule=name, limit=None))


def test_missed_runs_are_caught_up_once_then_the_schedule_goes_on_in_step(schedule_app: Any) -> None:
    from project.schedules.dispatch import send_due_runs
    from project.schedules.lease import take_lease

    _add("catch-up", every=60.0)
    now = datetime.now(UTC)
    _set_next_run("catch-up", now - timedelta(hours=5))  # 300 runs missed while no beat ran
    assert take_lease("beat-1", LEASE, now)
    sent, soonest = send_due_runs("beat-1", now)
    assert len(sent) == 1
    assert [run["id"] for run in _runs("catch-up")] == sent
    assert soonest == now - timedelta(hours=5) + timedelta(minutes=301)  # the next one in step, after now
    assert send_due_runs("beat-1", now)[0] == []


def test_a_due_run_is_claimed_by_one_beat_only_and_only_with_the_lease(schedule_app: Any) -> None:
    from project.extensions import db
    from project.schedules.dispatch import claim_run
    from project.schedules.lease import take_lease
    from project.schedules.models import schedules

    _add("claimed", every=1.0)
    now = datetime.now(UTC) + timedelta(seconds=5)
    with db.engine.connect() as conn:
        row = conn.execute(select(schedules).where(schedules.c.name == "claimed")).mappings().one()
    assert not claim_run(row, "no-lease", now)  # nobody holds the lease
    assert take_lease("beat-1", LEASE, now)
    assert not claim_run(row, "beat-2", now)  # beat-2 does not hold it
    assert claim_run(row, "beat-1", now)
    assert not claim_run(row, "beat-1", now)  # already moved on: the same run is never claimed twice


def test_a_disabled_schedule_is_never_due_and_enabling_skips_the_time_it_was_off(schedule_app: Any) -> None:
    from project.schedules.dispatch import send_due_runs
    from project.schedules.lease import take_lease
    from project.schedules.service import set_enabled, show_schedule

    _add("paused", every=60.0, enabled=False)
    now = datetime.now(UTC)
    _set_next_run("paused", now - timedelta(hours=1))
    assert take_lease("beat-1", LEASE, now)
    assert send_due_runs("beat-1", now)[0] == []
    enabled = set_enabled("paused", True)
    assert datetime.fromisoformat(enabled["next_run_at"]) > now
    assert send_due_runs("beat-1", now)[0] == []
    assert show_schedule("paused")["last_job_id"] is None


@pytest.mark.services
def test_a_run_whose_broker_answer_was_lost_stays_a_run_of_its_schedule(
    env: dict[str, str], redis_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis applied the push, but its answer never came: the job may run, so the history keeps it as a
    run of its schedule (UNKNOWN until it runs) and the schedule names it as its last run."""
    from urllib.parse import urlsplit

    from project import create_app
    from project.jobs.history.read import list_history
    from project.jobs.history.select import JobFilter
    from project.migrations import upgrade_database
    from project.schedules.dispatch import send_due_runs
    from project.schedules.lease import take_lease
    from project.schedules.service import show_schedule
    from tests.processes import ExecReplyLost

    broker = urlsplit(redis_url)
    proxy = ExecReplyLost(broker.port or 6379)
    monkeypatch.setenv("CELERY_BROKER_URL", f"redis://127.0.0.1:{proxy.port}{broker.path}")
    monkeypatch.setenv("APPCTL_SOCKET_TIMEOUT", "1")
    flask_app = create_app("testing")
    try:
        with flask_app.app_context():
            upgrade_database()
            _add("lost", every=60.0)
            now = datetime.now(UTC) + timedelta(seconds=61)
            assert take_lease("beat-1", LEASE, now)
            with caplog.at_level("WARNING", logger="appctl"):
                assert send_due_runs("beat-1", now)[0] == []
            assert "schedule lost: the run due at" in caplog.text and "may or may not have been sent" in caplog.text
            [run] = list_history(JobFilter(schedule="lost"))
            assert run["state"] == "UNKNOWN"
            assert show_schedule("lost")["last_job_id"] == run["id"]
    finally:
        proxy.die()
        import redis

        redis.Redis.from_url(redis_url).delete(env["APPCTL_QUEUE"])
