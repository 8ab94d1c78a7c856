"""The publisher app records sent jobs through the database driver: the very rows the ORM writes."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from project import create_publisher_app
from project.extensions import db
from project.jobs.history import write_orm
from project.jobs.history.read import find_job
from project.jobs.history.values import PROGRESS_COLUMNS, progress_row, sent_row
from project.jobs.history.write import HISTORY
from project.jobs.history.write_driver import SENT_COLUMNS, DriverHistory
from project.jobs.history.write_orm import OrmHistory
from project.jobs.send import send_job
from tests.jobs.waiting import job_in_state, wait_for

SENT_AT = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
ARGS = [1, -2.5, "two", {"three": [None, True]}, "ünïcode 'quoted' \"double\" \\ back"]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def history_app(request: pytest.FixtureRequest, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """The app, migrated, on the embedded SQLite database and on PostgreSQL."""
    if request.param == "postgresql":
        monkeypatch.setenv("DATABASE_URL", request.getfixturevalue("pg_url"))
    return request.getfixturevalue("app")


def driver(app: Any) -> DriverHistory:
    found = DriverHistory.for_config(app.config)
    assert found is not None
    return found


def stored(task_id: str) -> dict[str, Any]:
    """The row as the database holds it (JSON as text, time as stored), without its id."""
    columns = ", ".join(f"CAST({name} AS TEXT) AS {name}" for name in (*SENT_COLUMNS, "retries", "terminate"))
    row = db.session.execute(text(f"SELECT {columns} FROM jobs WHERE id = :id"), {"id": task_id}).mappings().one()
    return {name: value for name, value in row.items() if name != "id"}


def test_the_driver_stores_what_the_orm_stores(history_app: Any) -> None:
    write_orm.OrmHistory().record_sent(
        [sent_row("by-orm", "project.users.tasks.divide", ARGS, {"k": "v"}, "q", sent_at=SENT_AT)]
    )
    driver(history_app).record_sent(
        [sent_row("by-driver", "project.users.tasks.divide", ARGS, {"k": "v"}, "q", sent_at=SENT_AT)]
    )
    assert stored("by-driver") == stored("by-orm")
    assert find_job("by-driver") == {**find_job("by-orm"), "id": "by-driver"}  # type: ignore[dict-item]


def test_a_job_a_worker_recorded_first_keeps_what_the_worker_wrote(history_app: Any) -> None:
    started = progress_row("fast", "STARTED", 0, {"name": "divide", "args": [1, 2], "worker": "w@h"})
    write_orm.OrmHistory().record_progress([started])
    driver(history_app).record_sent([sent_row("fast", "other", [9], {}, "q")])
    job = find_job("fast")
    assert job is not None
    assert (job["state"], job["name"], job["args"], job["queue"]) == ("STARTED", "divide", [1, 2], "q")


@pytest.mark.parametrize("writer", ["orm", "driver"])
def test_a_job_a_worker_recorded_first_gets_its_senders_time(history_app: Any, writer: str) -> None:
    """The worker's record stands in a time for a job it has not seen sent; the sender's real, earlier time wins."""
    started = progress_row(f"fast-{writer}", "STARTED", 0, {"name": "divide", "args": [1, 2], "worker": "w@h"})
    OrmHistory().record_progress([started])
    sender = OrmHistory() if writer == "orm" else driver(history_app)
    sender.record_sent([sent_row(f"fast-{writer}", "divide", [1, 2], {}, "q", sent_at=SENT_AT)])
    job = find_job(f"fast-{writer}")
    assert job is not None and (job["sent_at"], job["state"]) == (SENT_AT.isoformat(), "STARTED")
    later = sent_row(f"fast-{writer}", "divide", [1, 2], {}, "q", sent_at=datetime(2026, 6, 1, tzinfo=UTC))
    sender.record_sent([later])  # a later record of the same send (its state settled) keeps the first time
    assert find_job(f"fast-{writer}")["sent_at"] == SENT_AT.isoformat()  # type: ignore[index]


def test_a_batch_is_recorded_whole(history_app: Any) -> None:
    ids = [f"job-{number}" for number in range(1500)]
    driver(history_app).record_sent([sent_row(task_id, "divide", [n], {}, None) for n, task_id in enumerate(ids)])
    assert db.session.execute(text("SELECT count(*) FROM jobs WHERE id LIKE 'job-%'")).scalar() == 1500


@pytest.mark.parametrize(
    ("url", "dialect"),
    [
        ("sqlite:////data/app.sqlite", "sqlite"),
        ("sqlite+pysqlite:////data/app.sqlite", "sqlite"),
        ("sqlite:///relative.sqlite", "sqlite"),
        ("sqlite://", None),
        ("sqlite:///:memory:", None),
        ("sqlite:////data/app.sqlite?timeout=5", None),
        ("sqlite:////data/a%20b.sqlite", None),
        ("postgresql://u:p@db:5432/app?options=-csearch_path%3Dx", "postgresql"),
        ("postgres://u@db/app", "postgresql"),
        ("postgresql+psycopg://u@db/app", "postgresql"),
        ("postgresql+psycopg2://u@db/app", None),
        ("mysql+pymysql://u@db/app", None),
    ],
)
def test_which_databases_the_driver_writes(url: str, dialect: str | None) -> None:
    found = DriverHistory.for_config({"DATABASE_URL": url, "SQLALCHEMY_ENGINE_OPTIONS": {}})
    assert (found.dialect if found else None) == dialect


def test_a_url_only_sqlalchemy_reads_gets_the_whole_app(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    database = Path(env["APPCTL_DATA_DIR"]) / "app.sqlite"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{database}?timeout=5")
    app = create_publisher_app("testing")
    assert "sqlalchemy" in app.extensions and isinstance(app.extensions[HISTORY], OrmHistory)


def test_the_publisher_app_has_no_orm(env: dict[str, str]) -> None:
    app = create_publisher_app("testing")
    assert "sqlalchemy" not in app.extensions and isinstance(app.extensions[HISTORY], DriverHistory)


def test_each_thread_uses_and_closes_its_own_connection(history_app: Any) -> None:
    history = driver(history_app)
    history.record_sent([sent_row("main-1", "divide", [1], {}, None)])

    def in_another_thread() -> None:
        history.record_sent([sent_row("thread-1", "divide", [2], {}, None)])
        history.close()

    thread = threading.Thread(target=in_another_thread)
    thread.start()
    thread.join(timeout=30)
    history.record_sent([sent_row("main-2", "divide", [3], {}, None)])  # the main thread's connection still works
    history.close()
    assert all(find_job(task_id) for task_id in ("main-1", "thread-1", "main-2"))


def test_a_worker_in_the_same_process_keeps_running_its_own_app(worker: Any, env: dict[str, str]) -> None:
    publisher = create_publisher_app("testing")
    with publisher.app_context():
        task_id = send_job("divide", [1, 2])
    record = wait_for(job_in_state(task_id, "SUCCESS"), what="SUCCESS recorded by the worker")
    assert record["result"] == 0.5


def progress_stored(task_id: str) -> dict[str, Any]:
    """A worker's columns as the database holds them, without the id."""
    columns = ", ".join(f"CAST({name} AS TEXT) AS {name}" for name in PROGRESS_COLUMNS)
    row = db.session.execute(text(f"SELECT {columns} FROM jobs WHERE id = :id"), {"id": task_id}).mappings().one()
    return {name: value for name, value in row.items() if name != "id"}


def test_both_writers_record_a_run_alike(history_app: Any) -> None:
    for task_id, writer in (("run-orm", OrmHistory()), ("run-driver", driver(history_app))):
        writer.record_sent([sent_row(task_id, "divide", ARGS, {"k": "v"}, "q", sent_at=SENT_AT)])
        fields = {"name": "divide", "args": ARGS, "worker": "w@h", "started_at": SENT_AT}
        writer.record_progress([progress_row(task_id, "STARTED", 0, fields)])
        done = {"result": {"ünï": [1.5, None]}, "finished_at": SENT_AT, "error_type": None}
        writer.record_progress([progress_row(task_id, "SUCCESS", 0, done)])
    assert progress_stored("run-driver") == progress_stored("run-orm")
    assert find_job("run-driver") == {**find_job("run-orm"), "id": "run-driver"}  # type: ignore[dict-item]


def test_a_start_does_not_undo_a_revoke_and_a_reader_does_not_undo_an_outcome(history_app: Any) -> None:
    for task_id, writer in (("rev-orm", OrmHistory()), ("rev-driver", driver(history_app))):
        writer.record_sent([sent_row(task_id, "divide", [1], {}, "q")])
        db.session.execute(
            text("UPDATE jobs SET state = 'REVOKED', revoked_at = sent_at WHERE id = :id"), {"id": task_id}
        )
        db.session.commit()
        writer.record_progress([progress_row(task_id, "STARTED", 0, {"worker": "w@h"})])
        assert find_job(task_id)["state"] == "REVOKED"  # type: ignore[index]
        writer.record_progress([progress_row(task_id, "FAILURE", 0, {"error_type": "Late"})], behind_only=True)
        assert find_job(task_id)["state"] == "REVOKED"  # type: ignore[index]


def test_a_job_is_never_shown_sent_after_it_started(history_app: Any) -> None:
    """The sender reads its clock once the broker has the job, so a quick worker may start it earlier."""
    driver(history_app).record_sent([sent_row("quick", "divide", [1, 2], {}, "q", sent_at=SENT_AT)])
    started_at = datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=UTC)  # 78.9 ms before the sender's time
    OrmHistory().record_progress([progress_row("quick", "STARTED", 0, {"started_at": started_at})])
    job = find_job("quick")
    assert job is not None and (job["sent_at"], job["started_at"]) == (started_at.isoformat(),) * 2


def test_on_sqlite_a_batch_as_one_json_array_stores_what_a_row_at_a_time_stores(
    app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    awkward = [*ARGS, "nul \x00 tab \t line \u2028 emoji \U0001f600 lone \ud800", 10**30, 1e-300, [], {}]
    rows = [
        sent_row(f"{how}-{n}", "divide", value, {"k": value}, None, sent_at=SENT_AT, eta=SENT_AT, retry_of="r")
        for how in ("json", "rows")
        for n, value in enumerate([awkward, None, "text"])
    ]
    driver(app).record_sent(rows[:3])  # SQLite 3.38 and later: one JSON parameter
    monkeypatch.setattr("project.jobs.history.write_driver._SQLITE_JSON", False)
    driver(app).record_sent(rows[3:])  # executemany, a row at a time
    assert [stored(f"json-{n}") for n in range(3)] == [stored(f"rows-{n}") for n in range(3)]


AWKWARD_RESULTS = [0.5, 10**6, "text", [], {}, None, {"nested": ["ü", 1e-7]}]


@pytest.mark.parametrize("reader", ["orm", "driver"])
def test_both_writers_read_a_row_as_the_orm_reads_it(history_app: Any, reader: str) -> None:
    """``query`` + ``read_row`` give what SQLAlchemy's typed columns give: JSON parsed (a number SQLite
    stored as a number too), times aware in UTC, ``terminate`` a bool."""
    from sqlalchemy import select, update

    from project.jobs.history.models import jobs
    from project.jobs.history.write_driver import read_row

    history = OrmHistory() if reader == "orm" else driver(history_app)
    for index, result in enumerate(AWKWARD_RESULTS):
        task_id = f"read-{index}"
        history.record_sent([sent_row(task_id, "t", ARGS, {"k": "v"}, "q", sent_at=SENT_AT)])
        history.record_progress([progress_row(task_id, "SUCCESS", 0, {"finished_at": SENT_AT, "result": result})])
        with db.engine.begin() as conn:
            conn.execute(update(jobs).where(jobs.c.id == task_id).values(terminate=True, revoked_at=SENT_AT))
        [raw] = history.query("SELECT * FROM jobs WHERE id = :id", {"id": task_id})
        with db.engine.connect() as conn:
            typed = dict(conn.execute(select(jobs).where(jobs.c.id == task_id)).mappings().one())
        assert read_row(history.dialect, raw) == typed
        assert typed["result"] == result and typed["terminate"] is True and typed["sent_at"] == SENT_AT


@pytest.mark.parametrize("writer", ["orm", "driver"])
def test_copies_and_their_links_are_recorded_together_or_not_at_all(history_app: Any, writer: str) -> None:
    history = OrmHistory() if writer == "orm" else driver(history_app)
    history.record_sent([sent_row(f"old-{n}", "t", [n], {}, "q", sent_at=SENT_AT) for n in range(3)])
    copies = [sent_row(f"new-{n}", "t", [n], {}, "q", retry_of=f"old-{n}") for n in range(3)]
    history.record_retries(copies)
    assert [(find_job(f"old-{n}") or {})["retried_by"] for n in range(3)] == ["new-0", "new-1", "new-2"]
    assert [(find_job(f"new-{n}") or {})["retry_of"] for n in range(3)] == ["old-0", "old-1", "old-2"]
    broken = [sent_row("new-x", "t", [1], {}, "q", retry_of="old-0"), {**copies[0], "state": None}]
    with pytest.raises(Exception, match=r"(?i)null|constraint"):  # the second copy has no state: refused
        history.record_retries(broken)
    assert find_job("new-x") is None and (find_job("old-0") or {})["retried_by"] == "new-0"


def test_a_time_before_year_1000_is_stored_as_sqlalchemy_stores_it_and_read_back() -> None:
    from datetime import UTC, datetime

    from project.jobs.history.write_driver import read_row, stored_time

    early = datetime(999, 6, 1, 12, 30, tzinfo=UTC)
    assert stored_time("sqlite", early) == "0999-06-01 12:30:00.000000"
    assert read_row("sqlite", {"eta": stored_time("sqlite", early)})["eta"] == early
