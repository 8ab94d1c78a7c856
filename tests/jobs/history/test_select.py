"""The one job selection (JobFilter): each field selects what it says, on SQLite and PostgreSQL, read in chunks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from project.errors import InvalidInput
from project.extensions import db
from project.jobs.history.models import jobs
from project.jobs.history.prune import delete_jobs
from project.jobs.history.read import list_history, selected_jobs
from project.jobs.history.select import JobFilter, count_jobs, job_chunks, select_jobs
from tests.conftest import DATABASES, fresh_pg_schema

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
DIVIDE = "project.users.tasks.divide"


@pytest.fixture(params=DATABASES)
def history_app(request: pytest.FixtureRequest, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The app on an empty, migrated history: the embedded SQLite file, or a PostgreSQL schema of its own."""
    from project import create_app
    from project.migrations import upgrade_database

    schema = fresh_pg_schema("appctl_select") if request.param == "postgresql" else nullcontext(None)
    with schema as url:
        if url:
            monkeypatch.setenv("DATABASE_URL", url)
        flask_app = create_app("testing")
        with flask_app.app_context():
            upgrade_database()
            yield flask_app
            db.engine.dispose()  # before the schema is dropped


def add(task_id: str, minutes: float = 0, **fields: Any) -> None:
    """A history row sent ``minutes`` after T0; ``fields`` override the defaults."""
    row = {"id": task_id, "name": DIVIDE, "state": "SUCCESS", "args": [1, 2], "kwargs": {}, "queue": "celery"}
    row = {**row, "sent_at": T0 + timedelta(minutes=minutes), **fields}
    with db.engine.begin() as conn:
        conn.execute(jobs.insert(), [row])


@pytest.fixture
def varied(history_app: Any) -> None:
    add("ok", 0)
    add("zero", 1, state="FAILURE", args=[1, 0], error_type="ZeroDivisionError", error_message="division by zero")
    add("report", 2, name="project.reports.tasks.nightly", args=[], kwargs={"user_id": 42, "city": "Zürich"})
    add("parked", 3, state="PENDING", queue="parked", args=["50%_off", '😀 \\ "quoted"'])
    add("again", 4, state="FAILURE", retry_of="zero", args=[1, 0], error_type="ZeroDivisionError")
    add("other", 5, state="REVOKED", name="other.divide_all", error_type="TaskRevokedError", error_message="revoked")


def selected(**fields: Any) -> list[str]:
    """The ids the filter selects, oldest first, as a bulk action reads them."""
    return [job["id"] for chunk in selected_jobs(select_jobs(JobFilter(**fields))) for job in chunk]


@pytest.mark.parametrize(
    ("fields", "ids"),
    [
        ({}, ["ok", "zero", "report", "parked", "again", "other"]),
        ({"states": ("failure",)}, ["zero", "again"]),
        ({"states": ("FAILURE", "pending")}, ["zero", "parked", "again"]),
        ({"name": "divide"}, ["ok", "zero", "parked", "again"]),  # not other.divide_all
        ({"name": "tasks.nightly"}, ["report"]),
        ({"name": "project.reports.tasks.nightly"}, ["report"]),
        ({"name": "ivide"}, []),
        ({"name": "DIVIDE"}, []),  # names are exact, on SQLite too (whose LIKE ignores case)
        ({"name": "TASKS.NIGHTLY"}, []),
        ({"queue": "parked"}, ["parked"]),
        ({"queue": "park"}, []),
        ({"since": T0 + timedelta(minutes=2)}, ["report", "parked", "again", "other"]),
        ({"until": T0 + timedelta(minutes=2)}, ["ok", "zero"]),  # until is excluded
        ({"since": T0 + timedelta(minutes=1), "until": T0 + timedelta(minutes=3)}, ["zero", "report"]),
        ({"error": "zerodivision"}, ["zero", "again"]),  # any case, the type too
        ({"error": "Error: division"}, ["zero"]),  # across "Type: message", as the history shows it
        ({"error": "revoked"}, ["other"]),
        ({"error": ": "}, ["zero", "other"]),  # a job without an error, or with its type alone, has no ": "
        ({"error": " "}, ["zero", "other"]),
        ({"args": "[1, 0]"}, ["zero", "again"]),
        ({"args": '"user_id": 42'}, ["report"]),  # kwargs too
        ({"args": "zürich"}, ["report"]),  # stored as \u00fc: matched all the same, any case
        ({"args": "ZÜRICH"}, ["report"]),  # \u00dc: an escaped letter in the other case
        ({"args": "😀"}, ["parked"]),  # stored as a surrogate pair, \ud83d\ude00
        ({"args": '\\ "quoted"'}, ["parked"]),  # a backslash and quotes, as the value holds them
        ({"args": "50%_"}, ["parked"]),  # % and _ are literal
        ({"args": "%"}, ["parked"]),
        ({"retry_of": "zero"}, ["again"]),
        ({"states": ("FAILURE",), "error": "ZeroDivision", "retry_of": "zero"}, ["again"]),
        ({"name": "x" * 300}, []),  # longer than any name: nothing, not a database error
        ({"args": "x" * 60_000}, []),  # longer than any args SQLite could match with LIKE
    ],
)
def test_each_field_selects_what_it_says(varied: None, fields: dict[str, Any], ids: list[str]) -> None:
    assert selected(**fields) == ids
    assert count_jobs(JobFilter(**fields)) == len(ids)
    listed = [job["id"] for job in list_history(JobFilter(**fields), limit=None)]
    assert listed == ids[::-1]  # the listing: the same jobs, newest first


@pytest.mark.parametrize("needle", ["доступ", "ДОСТУП ЗАПРЕЩЁН", "ärger", "ÄRGER", "permissionerror: д"])
def test_an_error_matches_in_any_case_in_every_alphabet(history_app: Any, needle: str) -> None:
    """SQLite's own lower() folds ASCII letters only: the filter matches as on PostgreSQL all the same."""
    add("other", state="FAILURE", error_type="PermissionError", error_message="ascii only")
    add("cyrillic", 1, state="FAILURE", error_type="PermissionError", error_message="Доступ запрещён: Ärger")
    assert selected(error=needle) == ["cyrillic"]
    assert [job["id"] for job in list_history(JobFilter(error=needle), limit=None)] == ["cyrillic"]


@pytest.mark.parametrize(
    "fields", [{"retry_of": "not\tan id"}, {"retry_of": ""}, {"retry_of": "x" * 256}, {"queue": ""}, {"queue": " "}]
)
def test_an_id_or_queue_the_same_option_refuses_elsewhere_is_invalid_input(fields: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        JobFilter(**fields)


def test_an_unknown_state_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="unknown state 'DONE'"):
        JobFilter(states=("done",))


def test_chunks_cover_every_row_once_across_equal_send_times(history_app: Any) -> None:
    rows = [{"id": f"job-{n:05d}", "name": DIVIDE, "state": "FAILURE", "sent_at": T0} for n in range(2500)]
    rows += [
        {"id": f"late-{n:05d}", "name": DIVIDE, "state": "FAILURE", "sent_at": T0 + timedelta(seconds=n)}
        for n in range(700)
    ]
    with db.engine.begin() as conn:
        conn.execute(jobs.insert(), rows)
    everything = JobFilter(states=("FAILURE",))
    for newest_first in (False, True):
        chunks = list(job_chunks(everything, newest_first=newest_first))
        assert [len(chunk) for chunk in chunks] == [1000, 1000, 1000, 200]
        ids = [row["id"] for chunk in chunks for row in chunk]
        assert sorted(ids) == sorted(row["id"] for row in rows)
    assert [len(chunk) for chunk in job_chunks(everything, size=7, limit=20)] == [7, 7, 6]
    assert len(list(list_history(everything, limit=1500))) == 1500


def test_a_selection_is_fixed_when_taken(history_app: Any) -> None:
    add("before", -1, state="FAILURE")
    selection = select_jobs(JobFilter(states=("FAILURE",)))
    add("sent-after", 0, state="FAILURE", sent_at=datetime.now(UTC) + timedelta(seconds=1))
    assert selection.count == 1
    assert [row["id"] for chunk in selection.chunks() for row in chunk] == ["before"]


def test_deleting_chunk_by_chunk_deletes_the_selection_only(history_app: Any) -> None:
    rows = [{"id": f"f-{n:04d}", "name": DIVIDE, "state": "FAILURE", "sent_at": T0} for n in range(1100)]
    rows += [{"id": f"s-{n:04d}", "name": DIVIDE, "state": "SUCCESS", "sent_at": T0} for n in range(30)]
    with db.engine.begin() as conn:
        conn.execute(jobs.insert(), rows)
    failed = JobFilter(states=("FAILURE",))
    selection = select_jobs(failed)
    deleted = [job for chunk in selection.chunks() for job in delete_jobs(failed, [row["id"] for row in chunk])]
    assert (selection.count, len(deleted), deleted[0]["state"]) == (1100, 1100, "FAILURE")
    assert count_jobs(JobFilter()) == 30


def test_a_job_changed_after_it_was_selected_is_not_deleted(history_app: Any) -> None:
    add("flaky", 0, state="FAILURE")
    failed = JobFilter(states=("FAILURE",))
    [chunk] = list(select_jobs(failed).chunks())
    with db.engine.begin() as conn:
        conn.execute(jobs.update().where(jobs.c.id == "flaky").values(state="SUCCESS"))
    assert delete_jobs(failed, [row["id"] for row in chunk]) == []
    assert count_jobs(JobFilter()) == 1


def test_a_prune_leaves_out_exactly_the_revoked_jobs_a_worker_may_still_take(history_app: Any) -> None:
    """A revoked job's message may still wait (a countdown, a retry's next attempt, a redelivery) unless a
    worker took and dropped it, a purge removed it, or it expired."""
    revoked = {"state": "REVOKED", "error_type": "TaskRevokedError", "error_message": "revoked"}
    add("waiting", 0, **revoked)
    add("retrying", 1, **revoked, worker="w1@h", started_at=T0)  # revoked between attempts: it ran once
    add("run-now", 2, **revoked, revoked_reason="run now", eta=T0 + timedelta(days=3650))
    add("dropped", 3, **revoked, revoked_reason="discarded", worker="w1@h")
    add("purged", 4, **revoked, revoked_reason="purged")
    add("expired", 5, **revoked, expires=T0)
    add("done", 6)
    assert selected(undiscarded=True) == ["waiting", "retrying", "run-now"]
    assert selected(undiscarded=False) == ["dropped", "purged", "expired", "done"]
