"""Writing the job history through the ORM's engine: one upsert per event, one per batch of sends.

Every write is an upsert keyed by the task id, so the order in which the producer and the
worker get to the database does not matter (a fast worker may start a job before the
producer has recorded sending it).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table, bindparam, delete, func, select, text, update
from sqlalchemy.exc import IntegrityError

from project.extensions import db
from project.jobs.history.models import jobs
from project.jobs.history.sql import earlier_time
from project.jobs.history.values import LIVE_STATES, PROGRESS_COLUMNS, complete_progress
from project.jobs.history.write_driver import (
    SENT_COLUMNS,
    column_values,
    progress_upsert,
    retry_link,
    retry_link_values,
    sent_upsert,
    sent_values,
)

# Set by whoever records a job first and never overwritten, but sent_at: a job the app did not
# publish itself (another producer) gets it from the worker's first record, and the sender's own
# (earlier) time replaces that when the worker got there first.
_SENT_FIELDS = ("name", "args", "kwargs", "queue", "sent_at")
_SENT_BY_WORKER = tuple(name for name in _SENT_FIELDS if name != "sent_at")  # kept as a worker recorded them
# Built once: a worker asks it before every job it runs.
_REVOKED_AT = select(jobs.c.revoked_at).where(jobs.c.id == bindparam("task_id"))
_KEPT_ONCE_SET = (*_SENT_FIELDS, "revoked_at")  # a worker's rows keep these (write_driver.progress_upsert)
_SENT_COLUMN_SET = set(SENT_COLUMNS)  # the keys of a plain send's row (values.sent_row)


def upsert(
    conn: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    keep: Sequence[str] = (),
    earliest: str | None = None,
) -> None:
    """Insert ``rows``; on an existing key overwrite their columns, except ``keep`` ones already set.

    The ``earliest`` column keeps the earlier of the stored time and the new one.
    """
    key = [column.name for column in table.primary_key.columns]
    columns = [name for name in rows[0] if name not in key]
    if conn.dialect.name not in ("sqlite", "postgresql"):
        _update_or_insert(conn, table, rows, key, (*keep, *([earliest] if earliest else [])))
        return
    dialect = importlib.import_module(f"sqlalchemy.dialects.{conn.dialect.name}")  # both have ON CONFLICT
    stmt = dialect.insert(table)
    changes = {
        name: func.coalesce(table.c[name], stmt.excluded[name]) if name in keep else stmt.excluded[name]
        for name in columns
    }
    if earliest in changes:
        changes[earliest] = text(earlier_time(conn.dialect.name, f"{table.name}.{earliest}", f"excluded.{earliest}"))
    conn.execute(stmt.on_conflict_do_update(index_elements=key, set_=changes), list(rows))


def _update_or_insert(
    conn: Connection, table: Table, rows: Sequence[dict[str, Any]], key: list[str], keep: Sequence[str]
) -> None:
    for row in rows:
        where = [table.c[name] == row[name] for name in key]
        changes = {name: value for name, value in row.items() if name not in key}
        changes.update({name: func.coalesce(table.c[name], row[name]) for name in keep if name in row})
        if conn.execute(update(table).where(*where).values(changes)).rowcount == 0:
            conn.execute(table.insert().values(row))


class OrmHistory:
    """The history writer of an app with the ORM (project/jobs/history/write.py)."""

    @property
    def dialect(self) -> str:
        """The database's SQLAlchemy dialect name: sqlite, postgresql."""
        return str(db.engine.dialect.name)

    def query(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """The rows of a SELECT written with ``:name`` parameters, by column name, as the driver returns them."""
        with db.engine.connect() as conn:
            return [dict(row) for row in conn.execute(text(sql), params).mappings()]

    def record_sent(self, rows: Sequence[dict[str, Any]]) -> None:
        """Record sent jobs in one statement; a job the worker already recorded keeps its state.

        Rows of plain sends take the driver writer's statement, run on this engine (SQLAlchemy's
        compiled insert cost twice as much per row); a schedule's runs, with their extra column, the ORM's.
        """
        if not rows:
            return
        dialect = db.engine.dialect.name
        if dialect in ("sqlite", "postgresql") and all(row.keys() == _SENT_COLUMN_SET for row in rows):
            with db.engine.begin() as conn:
                conn.exec_driver_sql(sent_upsert(dialect), sent_values(dialect, rows))
            return
        with db.engine.begin() as conn:
            upsert(conn, jobs, rows, keep=(*_SENT_BY_WORKER, "state"), earliest="sent_at")

    def record_retries(self, rows: Sequence[dict[str, Any]]) -> None:
        """Record copies sent (sent rows with ``retry_of``) and mark their originals retried by them, in one
        transaction: the driver writer's statements, run on this engine."""
        if not rows:
            return
        dialect = db.engine.dialect.name
        with db.engine.begin() as conn:
            if dialect in ("sqlite", "postgresql"):
                conn.exec_driver_sql(sent_upsert(dialect), sent_values(dialect, rows))
                conn.exec_driver_sql(retry_link(dialect), retry_link_values(dialect, rows))
                return
            upsert(conn, jobs, list(rows), keep=(*_SENT_BY_WORKER, "state"), earliest="sent_at")
            link = update(jobs).where(jobs.c.id == bindparam("old")).values(retried_by=bindparam("new"))
            conn.execute(link, [{"old": row["retry_of"], "new": row["id"]} for row in rows])

    def record_progress(self, rows: Sequence[dict[str, Any]], behind_only: bool = False) -> None:
        """Record jobs started or finished in one statement (see write.HistoryWriter).

        The statement is the driver writer's, run on this engine: SQLAlchemy's compiled insert
        cost twice as much per row, and a worker writes a row per job.
        """
        if not rows:
            return
        dialect = db.engine.dialect.name
        if dialect not in ("sqlite", "postgresql"):
            with db.engine.begin() as conn:
                _update_or_insert(conn, jobs, [complete_progress(row) for row in rows], ["id"], _KEPT_ONCE_SET)
            return
        values = column_values(dialect, PROGRESS_COLUMNS, rows)
        with db.engine.begin() as conn:
            conn.exec_driver_sql(progress_upsert(dialect, behind_only), values)

    def revoked(self, task_id: str) -> bool:
        """Whether ``task revoke`` marked the job (see write.HistoryWriter)."""
        with db.engine.connect() as conn:
            return conn.scalar(_REVOKED_AT, {"task_id": task_id}) is not None

    def claim(self, row: dict[str, Any]) -> bool:
        """Insert ``row`` unless an unfinished job holds its ``unique_key`` (ON CONFLICT DO NOTHING)."""
        with db.engine.begin() as conn:
            dialect = importlib.import_module(f"sqlalchemy.dialects.{conn.dialect.name}")  # sqlite, postgresql
            claim = dialect.insert(jobs).values(row).on_conflict_do_nothing().returning(jobs.c.id)
            return conn.execute(claim).first() is not None  # rowcount is -1 through psycopg here

    def holder(self, unique_key: str) -> dict[str, Any] | None:
        """The unfinished job holding ``unique_key``: id, state, sent_at."""
        query = select(jobs.c.id, jobs.c.state, jobs.c.sent_at).where(
            jobs.c.unique_key == unique_key, jobs.c.state.in_(LIVE_STATES)
        )
        with db.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return dict(row) if row is not None else None

    def give_key(self, task_id: str, unique_key: str) -> bool:
        """Set the job's ``unique_key`` unless an unfinished job holds it (the partial unique index refuses)."""
        try:
            with db.engine.begin() as conn:
                conn.execute(update(jobs).where(jobs.c.id == task_id).values(unique_key=unique_key))
        except IntegrityError:
            return False
        return True

    def settle(self, task_id: str, states: Sequence[str], changes: dict[str, Any]) -> bool:
        """Apply ``changes`` to the job if it is in one of ``states``."""
        query = update(jobs).where(jobs.c.id == task_id, jobs.c.state.in_(states)).values(changes)
        with db.engine.begin() as conn:
            return bool(conn.execute(query).rowcount)

    def release(self, task_id: str, state: str) -> None:
        """Delete the job's row if it is still in ``state``."""
        with db.engine.begin() as conn:
            conn.execute(delete(jobs).where(jobs.c.id == task_id, jobs.c.state == state))

    def close(self, _exc: BaseException | None = None) -> None:
        """Nothing to release: Flask-SQLAlchemy owns the engine."""
