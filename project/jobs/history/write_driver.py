"""Recording sent jobs through the database driver (sqlite3, psycopg), for an app built without the ORM.

Importing SQLAlchemy costs about as much as the rest of a ``task send``, so the publisher app
(``project.create_publisher_app``) writes its history rows here instead: the same rows and the
same upsert as ``OrmHistory.record_sent`` (a job a worker recorded first keeps what it recorded),
with the engine's own connect arguments (busy and connect timeouts). A unique send's claim on its
key (``claim``, ``holder``, ``settle``, ``release``) is written here too, as ``OrmHistory`` writes it.
A worker's rows (``record_progress``) take the upsert ``progress_upsert`` builds, whichever the writer.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from project.jobs.history.sql import earlier_time
from project.jobs.history.values import LIVE_STATES, PROGRESS_COLUMNS
from project.json_text import json_text
from project.urls import parse_url

SENT_COLUMNS = ("id", "state", "name", "args", "kwargs", "queue", "sent_at", "eta", "expires", "retry_of")
CLAIM_COLUMNS = (*SENT_COLUMNS, "unique_key")  # a unique send's row (project/jobs/unique.py)
_JSON_COLUMNS = ("args", "kwargs", "result")
TIME_COLUMNS = ("sent_at", "started_at", "finished_at", "revoked_at", "eta", "expires")
_PARAMETER = re.compile(r"(?<![:\w]):(\w+)")  # a ``:name`` parameter (not a ``::type`` cast), for psycopg
# SQLite 3.38 and later have JSON functions built in: a batch of sent jobs is then one parameter, and
# the insert runs in SQLite without taking Python's lock once per row (sqlite3's executemany does).
_SQLITE_JSON = sqlite3.sqlite_version_info >= (3, 38)
_KEPT_ONCE_SET = ("name", "args", "kwargs", "queue", "sent_at", "revoked_at")  # write_orm's rules, column by column
_KEPT_UNLESS_GIVEN = ("started_at", "worker", "revoked_reason")


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
        self._execute(sent_upsert(self.dialect), sent_values(self.dialect, rows))

    def record_retries(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Record copies sent (rows with ``retry_of``) and mark their originals retried by them: one transaction."""
        if rows:
            self._execute_all(
                (sent_upsert(self.dialect), sent_values(self.dialect, rows)),
                (retry_link(self.dialect), retry_link_values(self.dialect, rows)),
            )

    def record_progress(self, rows: Sequence[dict[str, Any]], behind_only: bool = False) -> None:
        """Record jobs started or finished in one statement, by OrmHistory.record_progress's rules."""
        if rows:
            values = column_values(self.dialect, PROGRESS_COLUMNS, rows)
            self._execute(progress_upsert(self.dialect, behind_only), values)

    def revoked(self, task_id: str) -> bool:
        """Whether ``task revoke`` marked the job."""
        found = self._query(f"SELECT revoked_at FROM jobs WHERE id = {self._mark('id')}", (task_id,))
        return bool(found) and found[0][0] is not None

    def claim(self, row: Mapping[str, Any]) -> bool:
        """Insert ``row`` unless an unfinished job holds its ``unique_key`` (ON CONFLICT DO NOTHING)."""
        names = [name for name in CLAIM_COLUMNS if name in row]
        values = ", ".join(self._mark(name) for name in names)
        sql = f"INSERT INTO jobs ({', '.join(names)}) VALUES ({values}) ON CONFLICT DO NOTHING RETURNING id"
        return bool(self._query(sql, tuple(self._value(name, row[name]) for name in names)))

    def holder(self, unique_key: str) -> dict[str, Any] | None:
        """The unfinished job holding ``unique_key``: id, state, sent_at."""
        mark = self._mark("state")
        live = ", ".join(mark for _ in LIVE_STATES)
        sql = f"SELECT id, state, sent_at FROM jobs WHERE unique_key = {mark} AND state IN ({live})"
        rows = self._query(sql, (unique_key, *LIVE_STATES))
        if not rows:
            return None
        task_id, state, sent_at = rows[0]
        if isinstance(sent_at, str):  # SQLite keeps the time as text, in UTC
            sent_at = datetime.fromisoformat(sent_at).replace(tzinfo=UTC)
        return {"id": task_id, "state": state, "sent_at": sent_at}

    def give_key(self, task_id: str, unique_key: str) -> bool:
        """Set the job's ``unique_key`` unless an unfinished job holds it (the partial unique index refuses)."""
        mark = self._mark("id")
        try:
            self._execute(f"UPDATE jobs SET unique_key = {mark} WHERE id = {mark}", [(unique_key, task_id)])
        except self._integrity_error():
            return False
        return True

    def settle(self, task_id: str, states: Sequence[str], changes: Mapping[str, Any]) -> bool:
        """Apply ``changes`` to the job if it is in one of ``states``."""
        assignments = ", ".join(f"{name} = {self._mark(name)}" for name in changes)
        mark = self._mark("state")
        sql = f"UPDATE jobs SET {assignments} WHERE id = {mark} AND state IN ({', '.join(mark for _ in states)})"
        values = (*(self._value(name, value) for name, value in changes.items()), task_id, *states)
        return bool(self._execute(sql, [values]))

    def release(self, task_id: str, state: str) -> None:
        """Delete the job's row if it is still in ``state``."""
        mark = self._mark("id")
        self._execute(f"DELETE FROM jobs WHERE id = {mark} AND state = {mark}", [(task_id, state)])

    def query(self, sql: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The rows of a SELECT written with ``:name`` parameters, by column name, as the driver returns them."""
        if self.dialect == "postgresql":
            sql = _PARAMETER.sub(r"%(\1)s", sql.replace("%", "%%"))
        connection = self._connection()
        try:
            cursor = connection.cursor()
            cursor.execute(sql, params)
            names = [column[0] for column in cursor.description]
            rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
            connection.commit()
        except BaseException:
            self.close()
            raise
        return rows

    def _connection(self) -> Any:
        connection = getattr(self._local, "connection", None) or self._connect()
        self._local.connection = connection
        return connection

    def _execute(self, sql: str, values: Sequence[Sequence[Any]]) -> int:
        """Run ``sql`` once per tuple of ``values`` in one transaction; the rows it changed."""
        return self._execute_all((sql, values))

    def _execute_all(self, *statements: tuple[str, Sequence[Sequence[Any]]]) -> int:
        """Run each ``(sql, values)``, once per tuple of values, in one transaction; the rows the last changed."""
        connection = self._connection()
        try:
            cursor = connection.cursor()
            changed = 0
            for sql, values in statements:
                cursor.executemany(sql, values)
                changed = cursor.rowcount
            connection.commit()
        except BaseException:
            self.close()  # a connection that failed is not used again
            raise
        return int(changed)

    def _query(self, sql: str, values: Sequence[Any]) -> list[Any]:
        """The rows ``sql`` returns, in a transaction of its own."""
        connection = self._connection()
        try:
            rows = connection.cursor().execute(sql, values).fetchall()
            connection.commit()
        except BaseException:
            self.close()
            raise
        return list(rows)

    def close(self, _exc: BaseException | None = None) -> None:
        """Close this thread's connection, if it has one open."""
        connection, self._local.connection = getattr(self._local, "connection", None), None
        if connection is not None:
            connection.close()

    def _connect(self) -> Any:
        if self.dialect == "sqlite":
            import sqlite3

            from project.sqlite import add_unicode_lower

            connection = sqlite3.connect(self.target, **self.connect_args)
            add_unicode_lower(connection)
            return connection
        import psycopg

        return psycopg.connect(self.target, **self.connect_args)

    def _integrity_error(self) -> type[Exception]:
        """The driver's error for a constraint the database refused."""
        if self.dialect == "sqlite":
            return sqlite3.IntegrityError
        import psycopg

        return psycopg.IntegrityError

    def _mark(self, column: str) -> str:
        """The parameter placeholder for a value of ``column`` (JSON ones cast on PostgreSQL)."""
        mark = "?" if self.dialect == "sqlite" else "%s"
        return mark + "::json" if column in _JSON_COLUMNS and self.dialect != "sqlite" else mark

    def _value(self, column: str, value: Any) -> Any:
        """``value`` as SQLAlchemy's column types would store it."""
        return _stored(self.dialect, column, value)


def sent_upsert(dialect: str) -> str:
    """``INSERT … ON CONFLICT (id)`` of sent jobs that fills only the columns still empty (both writers run it).

    A job a worker recorded first keeps what it recorded, but ``sent_at``: the sender's time is earlier
    than the stand-in the worker wrote.
    """
    mark = "?" if dialect == "sqlite" else "%s"
    cast = "" if dialect == "sqlite" else "::json"
    values = ", ".join(mark + cast if name in _JSON_COLUMNS else mark for name in SENT_COLUMNS)
    keep = ", ".join(
        f"{name} = {earlier_time(dialect, 'jobs.sent_at', 'excluded.sent_at')}"
        if name == "sent_at"
        else f"{name} = coalesce(jobs.{name}, excluded.{name})"
        for name in SENT_COLUMNS[1:]
    )
    if dialect == "sqlite" and _SQLITE_JSON:  # the batch is one JSON array, its rows taken apart by SQLite
        picks = ", ".join(f"json_extract(value, '$[{index}]')" for index in range(len(SENT_COLUMNS)))
        rows = f"SELECT {picks} FROM json_each(?) WHERE true"  # WHERE: SQLite's upsert needs it after a SELECT
        return f"INSERT INTO jobs ({', '.join(SENT_COLUMNS)}) {rows} ON CONFLICT (id) DO UPDATE SET {keep}"
    return f"INSERT INTO jobs ({', '.join(SENT_COLUMNS)}) VALUES ({values}) ON CONFLICT (id) DO UPDATE SET {keep}"


def sent_values(dialect: str, rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    """The parameters of ``sent_upsert``: the rows of sent jobs in SENT_COLUMNS' order, as SQLAlchemy's
    types store them; on SQLite with JSON functions, one parameter holding them all as a JSON array."""
    rows = in_lock_order(dialect, rows)
    times: dict[Any, Any] = {}  # a batch's few times (sent_at, eta, expires), each converted once

    def stored_time(value: Any) -> Any:
        if value not in times:
            times[value] = _stored(dialect, "sent_at", value)
        return times[value]

    values = [
        (
            row["id"],
            row["state"],
            row["name"],
            _json(row["args"]),
            _json(row["kwargs"]),
            row["queue"],
            stored_time(row["sent_at"]),
            stored_time(row["eta"]),
            stored_time(row["expires"]),
            row["retry_of"],
        )
        for row in rows
    ]
    return [(json_text(values),)] if dialect == "sqlite" and _SQLITE_JSON else values


def retry_link(dialect: str) -> str:
    """``UPDATE`` marking each original job retried by its copy (``retried_by``), for a batch (both writers run it)."""
    if dialect == "postgresql":
        pairs = "unnest(%s::text[], %s::text[]) AS link(old, new)"
        return f"UPDATE jobs SET retried_by = link.new FROM {pairs} WHERE jobs.id = link.old"
    if _SQLITE_JSON:  # one parameter for the batch, as in sent_upsert
        old, new = "json_extract(value, '$[0]')", "json_extract(value, '$[1]')"
        pairs = f"(SELECT {old} AS old, {new} AS new FROM json_each(?)) AS link"
        return f"UPDATE jobs SET retried_by = link.new FROM {pairs} WHERE jobs.id = link.old"
    return "UPDATE jobs SET retried_by = ? WHERE id = ?"


def retry_link_values(dialect: str, rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    """The parameters of ``retry_link`` for copies sent (rows with ``id`` and ``retry_of``)."""
    if dialect == "postgresql":
        return [([row["retry_of"] for row in rows], [row["id"] for row in rows])]
    if _SQLITE_JSON:
        return [(json_text([[row["retry_of"], row["id"]] for row in rows]),)]
    return [(row["id"], row["retry_of"]) for row in rows]


def progress_upsert(dialect: str, behind_only: bool = False) -> str:
    """The upsert of ``record_progress`` (see write.HistoryWriter), for the driver's paramstyle.

    Both writers run it: per row, it costs half what SQLAlchemy's compiled insert does, and a
    worker writes a row per job.
    """
    mark = "?" if dialect == "sqlite" else "%s"
    cast = "" if dialect == "sqlite" else "::json"
    values = ", ".join(mark + cast if name in _JSON_COLUMNS else mark for name in PROGRESS_COLUMNS)
    changes = []
    for name in PROGRESS_COLUMNS[1:]:
        if name == "sent_at":  # a sender reads its clock once the broker has the job: never after its start
            changes.append(
                f"sent_at = {earlier_time(dialect, 'coalesce(jobs.sent_at, excluded.sent_at)', 'excluded.started_at')}"
            )
        elif name in _KEPT_ONCE_SET:
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
    return [tuple(_stored(dialect, name, row.get(name)) for name in columns) for row in in_lock_order(dialect, rows)]


def in_lock_order(dialect: str, rows: Sequence[Mapping[str, Any]]) -> Sequence[Mapping[str, Any]]:
    """On a database that locks rows (PostgreSQL), ``rows`` by id (a stable sort: one job's rows keep their order).

    Two batches that write the same jobs then lock them in the same order and never deadlock; a
    retry's copies and the worker's first rows of them did, and the retry's links were lost.
    """
    return rows if dialect == "sqlite" else sorted(rows, key=lambda row: row["id"])


def _stored(dialect: str, column: str, value: Any) -> Any:
    if value is None:
        return None
    if column in _JSON_COLUMNS:
        return json_text(value)
    if isinstance(value, datetime):
        utc = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        return _sqlite_time(utc) if dialect == "sqlite" else utc
    return value


def _sqlite_time(utc: datetime) -> str:
    """How SQLAlchemy stores a DateTime in SQLite: ``2026-11-30 12:00:00.000000`` (the year in 4 digits,
    which strftime's %Y leaves out below 1000, and which datetime.fromisoformat needs)."""
    return utc.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def stored_time(dialect: str, value: datetime) -> Any:
    """A time as SQLAlchemy's DateTime stores it: naive UTC text on SQLite, an aware time elsewhere."""
    return _stored(dialect, "sent_at", value)


def read_row(dialect: str, row: Mapping[str, Any]) -> dict[str, Any]:
    """A row of ``jobs`` as the driver returned it, as the ORM reads it: JSON parsed, times aware in UTC,
    ``terminate`` a bool (SQLite keeps JSON and times as text, and booleans as integers)."""
    read = dict(row)
    for name, value in read.items():
        if value is None:
            continue
        if name in _JSON_COLUMNS and dialect == "sqlite" and isinstance(value, str):  # a number is stored as one
            read[name] = json.loads(value)
        elif name in TIME_COLUMNS:
            moment = datetime.fromisoformat(value) if isinstance(value, str) else value
            read[name] = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        elif name == "terminate":
            read[name] = bool(value)
    return read


def _json(value: Any) -> str | None:
    """A JSON column's value as SQLAlchemy's JSON type stores it (None: SQL NULL, ``none_as_null``)."""
    return None if value is None else json_text(value)
