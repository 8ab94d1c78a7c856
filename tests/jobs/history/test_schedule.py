"""eta and expires in the job history, from every send path and both writers, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from project.jobs.history.read import find_job, list_history
from project.jobs.send import send_from_lines, send_job
from project.users.tasks import divide
from tests.conftest import run_appctl

HOUR = timedelta(hours=1)


@pytest.fixture
def history_app(database_env: dict[str, str]) -> Iterator[Any]:
    """The app on SQLite or PostgreSQL, migrated, in its app context (no worker: jobs wait)."""
    from project import create_app
    from project.migrations import upgrade_database

    flask_app = create_app("testing")
    with flask_app.app_context():
        upgrade_database()
        yield flask_app


def schedule(task_id: str) -> tuple[datetime, datetime]:
    record = find_job(task_id)
    assert record is not None
    return datetime.fromisoformat(record["eta"]), datetime.fromisoformat(record["expires"])


def sent(env: dict[str, str], *args: str) -> tuple[list[str], datetime, datetime]:
    """``appctl task send divide ARGS…`` as a process (the publisher app: the driver's writer); ids, and
    the times just before and after it ran."""
    before = datetime.now(UTC)
    done = run_appctl("task", "send", "divide", *args, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout.split(), before, datetime.now(UTC)


def test_task_send_records_countdown_and_expires_in_seconds(history_app: Any, database_env: dict[str, str]) -> None:
    [task_id], before, after = sent(database_env, "1", "2", "--countdown", "3600", "--expires", "7200")
    eta, expires = schedule(task_id)
    assert before + HOUR <= eta <= after + HOUR
    assert before + 2 * HOUR <= expires <= after + 2 * HOUR


def test_task_send_records_an_eta_and_expiry_given_as_times(history_app: Any, database_env: dict[str, str]) -> None:
    eta, expires = datetime(2099, 1, 2, 3, 4, 5, 678000, tzinfo=UTC), datetime(2099, 1, 3, tzinfo=UTC)
    at = eta.astimezone(timezone(timedelta(hours=2)))  # another zone: recorded in UTC all the same
    [task_id], _, _ = sent(database_env, "1", "2", "--eta", at.isoformat(), "--expires", expires.isoformat())
    assert schedule(task_id) == (eta, expires)


def test_task_send_from_file_records_the_schedule_of_every_job(
    history_app: Any, database_env: dict[str, str], tmp_path: Path
) -> None:
    lines = tmp_path / "jobs.jsonl"
    lines.write_text("[1, 2]\n[3, 4]\n")
    ids, before, after = sent(database_env, "--from-file", str(lines), "--countdown", "3600", "--expires", "7200")
    assert len(ids) == 2
    for task_id in ids:
        eta, expires = schedule(task_id)
        assert before + HOUR <= eta <= after + HOUR and before + 2 * HOUR <= expires <= after + 2 * HOUR


def test_send_service_and_any_apply_async_record_the_schedule(history_app: Any) -> None:
    """The ORM's writer: the send service in-process, and the publish signal for the app's own code."""
    before = datetime.now(UTC)
    by_service = send_job("divide", [1, 2], countdown=3600, expires=7200)
    by_code = divide.apply_async((1, 2), countdown=3600, expires=7200).id  # as a Flask view would
    _, from_lines = send_from_lines("divide", io.BytesIO(b"[5, 6]\n"), countdown=3600, expires=7200)
    [[by_lines]] = [[job.id for job in batch] for batch in from_lines]
    after = datetime.now(UTC)
    for task_id in (by_service, by_code, by_lines):
        eta, expires = schedule(task_id)
        assert before + HOUR <= eta <= after + HOUR and before + 2 * HOUR <= expires <= after + 2 * HOUR


def test_a_job_sent_without_a_schedule_has_none(history_app: Any) -> None:
    record = find_job(divide.delay(1, 2).id)
    assert record is not None and (record["eta"], record["expires"]) == (None, None)


def test_history_scheduled_lists_the_jobs_not_yet_due_soonest_first(history_app: Any) -> None:
    later = send_job("divide", [1, 2], countdown=7200)
    sooner = send_job("divide", [1, 2], countdown=3600)
    past = send_job("divide", [1, 2], eta=datetime.now(UTC) - HOUR)  # due already: a worker runs it when it can
    now = send_job("divide", [1, 2])
    ids = [record["id"] for record in list_history(scheduled=True, limit=None)]
    assert [task_id for task_id in ids if task_id in (later, sooner, past, now)] == [sooner, later]
