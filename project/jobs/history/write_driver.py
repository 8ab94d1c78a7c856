"""Recording sent jobs through the database driver (sqlite3, psycopg), for an app built without the ORM.

Importing SQLAlchemy costs about as much as the rest of a ``task send``, so the publisher app
(``project.create_publisher_app``) writes its history rows here instead: the same rows and the
same upsert as ``OrmHistory.record_sent`` (a job a worker recorded first keeps what it recorded),
with the engine's own connect arguments (busy and connect timeouts).
"""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from project.jobs.history.values import LIVE_STATES, PROGRESS_COLUMNS
from project.urls import parse_url

SENT_COLUMNS = ("id", "state", "name", "args", "kwargs", "queue", "sent_at")
_JSON_COLUMNS = ("args", "kwargs", "result")
_KEPT_ONCE_SET = ("name", "args", "kwargs", "queue", "sent_at", "revoked_at")  # write_orm's rules, column by column
_KEPT_UNLESS_GIVEN = ("started_at", "worker")
_SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores a DateTime in SQLite


class DriverHistory:
    """The job history's database, reached through its driver: a SQLite file or PostgreSQL.

    One connection per thread serves every batch of a run; ``close`` (an app teardown, in the
    thread that used the app context) releases that thread's.
    """

    def __init__(self, dialect: str, target: str, connect_args: Mapping[str, Any]) -> None:
        self.dialect = dialect
        self.target = target  # the SQLite file, or the libpq URL
        self.connect_args = connect_args
        self._local = threading.local()

    @classmethod
    def for_config(cls, config: Mapping[str, Any]) -> DriverHistory | None:
        """The history database of an app's ``config``, or None when only SQLAlchemy can write it.

        These qualify: a SQLite file named plainly (no query string or escapes, which SQLAlchemy
        reads its own way), and PostgreSQL with psycopg installed (libpq reads the URL as SQLAlchemy does).
        """
        url = parse_url(config["DATABASE_URL"])
        connect_args = config["SQLALCHEMY_ENGINE_OPTIONS"].get("connect_args", {})
        path = url.rest[1:]
        if url.plain_sqlite and path and path != ":memory:" and not {"?", "%"} & set(path):
            return cls("sqlite", path, connect_args)
        if url.plain_postgresql and importlib.util.find_spec("psycopg") is not None:
            return cls("postgresql", "postgresql://" + url.rest, connect_args)
        return None

    def record_sent(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Record sent jobs (``values.sent_row``) in one transaction."""
        self._write(self._upsert(), SENT_COLUMNS, rows)

    def record_progress(self, rows: Sequence[dict[str, Any]], behind_only: bool = False) -> None:
        """Record jobs started or finished in one statement, by OrmHistory.record_progress's rules."""
        if rows:
            self._write(progress_upsert(self.dialect, behind_only), PROGRESS_COLUMNS, rows)

    def revoked(self, task_id: str) -> bool:
        """Whether ``task revoke`` marked the job."""
        mark = "?" if self.dialect == "sqlite" else "%s"
        cursor = self._connection().cursor()
        try:
            found = cursor.execute(f"SELECT revoked_at FROM jobs WHERE id = {mark}", (task_id,)).fetchone()
            self._local.connection.commit()  # end the read transaction (PostgreSQL opens one)
        except BaseException:
            self.close()
            raise
        return found is not None and found[0] is not None

    def _write(self, statement: str, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> None:
        values = column_values(self.dialect, columns, rows)
        connection = self._connection()
        try:
            connection.cursor().executemany(statement, values)
            connection.commit()
        except BaseException:
            self.close()  # a connection that failed is not used again
            raise

    def _connection(self) -> Any:
        connection = getattr(self._local, "connection", None) or self._connect()
        self._local.connection = connection
        return connection

    def close(self, _exc: BaseException | None = None) -> None:
        """Close this thread's connection, if it has one open."""
        connection, self._local.connection = getattr(self._local, "connection", None), None
        if connection is not None:
            connection.close()

    def _connect(self) -> Any:
        if self.dialect == "sqlite":
            import sqlite3

            return sqlite3.connect(self.target, **self.connect_args)
        import psycopg

        return psycopg.connect(self.target, **self.connect_args)

    def _upsert(self) -> str:
        """``INSERT … ON CONFLICT (id)`` that fills only the columns still empty (both dialects have it)."""
        mark = "?" if self.dialect == "sqlite" else "%s"
        cast = "" if self.dialect == "sqlite" else "::json"
        values = ", ".join(mark + cast if name in _JSON_COLUMNS else mark for name in SENT_COLUMNS)
        keep = ", ".join(f"{name} = coalesce(jobs.{name}, excluded.{name})" for name in SENT_COLUMNS[1:])
        return f"INSERT INTO jobs ({', '.join(SENT_COLUMNS)}) VALUES ({values}) ON CONFLICT (id) DO UPDATE SET {keep}"


def progress_upsert(dialect: str, behind_only: bool = False) -> str:
    """The upsert of ``record_progress`` (see write.HistoryWriter), for the driver's paramstyle.

    Both writers run it: per row, it costs half what SQLAlchemy's compiled insert does, and a
    worker writes two rows' worth (a start and an outcome) per job.
    """
    mark = "?" if dialect == "sqlite" else "%s"
    cast = "" if dialect == "sqlite" else "::json"
    values = ", ".join(mark + cast if name in _JSON_COLUMNS else mark for name in PROGRESS_COLUMNS)
    changes = []
    for name in PROGRESS_COLUMNS[1:]:
        if name in _KEPT_ONCE_SET:
            changes.append(f"{name} = coalesce(jobs.{name}, excluded.{name})")
        elif name in _KEPT_UNLESS_GIVEN:
            changes.append(f"{name} = coalesce(excluded.{name}, jobs.{name})")
        else:
            changes.append(f"{name} = excluded.{name}")
    where = "(excluded.state <> 'STARTED' OR jobs.revoked_at IS NULL)"
    if behind_only:
        where += " AND jobs.state IN ({})".format(", ".join(f"'{state}'" for state in LIVE_STATES))
    return (
        f"INSERT INTO jobs ({', '.join(PROGRESS_COLUMNS)}) VALUES ({values}) "
        f"ON CONFLICT (id) DO UPDATE SET {', '.join(changes)} WHERE {where}"
    )


def column_values(dialect: str, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    """The rows' ``columns`` (None where a row has none) for the driver, as SQLAlchemy's types store them."""
    return [tuple(_stored(dialect, name, row.get(name)) for name in columns) for row in rows]


def _stored(dialect: str, column: str, value: Any) -> Any:
    if value is None:
        return None
    if column in _JSON_COLUMNS:
        return json.dumps(value)
    if isinstance(value, datetime):
        utc = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        return utc.replace(tzinfo=None).strftime(_SQLITE_DATETIME) if dialect == "sqlite" else utc
    return value
