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

from project.urls import parse_url

SENT_COLUMNS = ("id", "state", "name", "args", "kwargs", "queue", "sent_at")
_JSON_COLUMNS = ("args", "kwargs")
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
        times = {when: self._value("sent_at", when) for when in {row["sent_at"] for row in rows}}  # one a batch
        values = [
            (
                row["id"],
                row["state"],
                row["name"],
                _json(row["args"]),
                _json(row["kwargs"]),
                row["queue"],
                times[row["sent_at"]],
            )
            for row in rows
        ]
        connection = getattr(self._local, "connection", None) or self._connect()
        self._local.connection = connection
        try:
            connection.cursor().executemany(self._upsert(), values)
            connection.commit()
        except BaseException:
            self.close()  # a connection that failed is not used again
            raise

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

    def _value(self, column: str, value: Any) -> Any:
        """``value`` as SQLAlchemy's column types would store it."""
        if value is None:
            return None
        if column in _JSON_COLUMNS:
            return json.dumps(value)
        if isinstance(value, datetime):
            utc = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
            return utc.replace(tzinfo=None).strftime(_SQLITE_DATETIME) if self.dialect == "sqlite" else utc
        return value


def _json(value: Any) -> str | None:
    """A JSON column's value as SQLAlchemy's JSON type stores it (None: SQL NULL, ``none_as_null``)."""
    return None if value is None else json.dumps(value)
