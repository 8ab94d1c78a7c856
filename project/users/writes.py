"""Writing many users in one transaction: multi-row inserts, and the database's own upsert where it has one."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from itertools import groupby
from operator import itemgetter
from typing import Any

from sqlalchemy import Insert, bindparam, insert, or_, update
from sqlalchemy.exc import IntegrityError

from project.errors import UserExists
from project.extensions import db
from project.users.models import User

UPSERT_DIALECTS = ("sqlite", "postgresql")  # INSERT … ON CONFLICT
MATCHED_BY = ("username", "username_key")  # an update changes every other column its row gives
COMPARED = ("email_key", "active", "password_hash")  # an import row that changes none of them is skipped
NEW_USER_DEFAULTS = {"active": True, "password_hash": None}  # what an import row that leaves them out means


def write_users(inserts: list[dict[str, Any]], updates: list[dict[str, Any]], on_conflict: str) -> tuple[int, int]:
    """Insert and update users in one transaction; returns how many of ``inserts`` were inserted, and
    how many others (users another writer added meanwhile) ``update`` changed.

    With ``skip`` and ``update`` the inserts are upserts where the database has them, so a user
    another writer adds meanwhile is skipped or updated instead of failing the import. Rows may
    give different columns (``active`` and ``password_hash`` are optional): each set of columns is
    one statement, and a column a row leaves out is left as it is.
    """
    connection = db.session.connection()
    if on_conflict != "update":  # a new user's left-out columns are its defaults: one statement, in file order
        inserts = [{**NEW_USER_DEFAULTS, **row} for row in inserts]
    try:
        counts = [_insert(connection, rows, on_conflict) for rows in _by_columns(inserts)]
        for rows in _by_columns(updates):
            _update(connection, rows, on_conflict)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise UserExists("another writer added one of these users meanwhile; nothing was imported") from None
    except BaseException:
        db.session.rollback()
        raise
    return sum(inserted for inserted, _ in counts), sum(changed for _, changed in counts)


def _by_columns(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """``rows`` in runs that give the same columns, in their order: new users get their ids in file order."""
    for _, run in groupby(rows, key=tuple):  # the keys in the row's order: cheaper than a set
        yield list(run)


def _insert(connection: Any, rows: list[dict[str, Any]], on_conflict: str) -> tuple[int, int]:
    """Insert ``rows``: how many were inserted, and how many that another writer added meanwhile
    ``update`` changed (an upsert's count mixes the two: the new users go first, on their own)."""
    if not rows:
        return 0, 0
    dialect, columns = connection.dialect.name, list(rows[0])
    statement = _insert_statement(dialect, "skip" if on_conflict == "update" else on_conflict, columns)
    inserted = _rows_written(execute_many(connection, statement, rows), rows)
    if on_conflict != "update" or inserted == len(rows):
        return inserted, 0
    return inserted, _rows_written(execute_many(connection, _insert_statement(dialect, "update", columns), rows), rows)


def _rows_written(result: Any, rows: list[dict[str, Any]]) -> int:
    count = result.rowcount
    return count if 0 <= count <= len(rows) else len(rows)  # a driver that cannot count reports -1


def execute_many(connection: Any, statement: Any, rows: list[dict[str, Any]]) -> Any:
    """``statement`` for every row in one driver ``executemany``, compiled once.

    ``connection.execute(statement, rows)`` does the same but processes every row's parameters
    in Python first, which costs as much as the database's own work for plain strings.
    """
    compiled = statement.compile(dialect=connection.dialect, column_keys=list(rows[0]))
    if compiled.positional:
        values = itemgetter(*compiled.positiontup)
        if len(compiled.positiontup) == 1:  # itemgetter of one key gives the value, not a tuple
            return connection.exec_driver_sql(compiled.string, [(values(row),) for row in rows])
        return connection.exec_driver_sql(compiled.string, list(map(values, rows)))
    return connection.exec_driver_sql(compiled.string, rows)


def _insert_statement(dialect: str, on_conflict: str, columns: list[str]) -> Insert:
    if on_conflict == "fail" or dialect not in UPSERT_DIALECTS:
        return insert(User.__table__)
    statement = importlib.import_module(f"sqlalchemy.dialects.{dialect}").insert(User.__table__)
    if on_conflict == "skip":
        return statement.on_conflict_do_nothing()
    changed = {column: statement.excluded[column] for column in columns if column not in MATCHED_BY}
    table = User.__table__
    differs = [table.c[column].is_distinct_from(statement.excluded[column]) for column in COMPARED if column in columns]
    return statement.on_conflict_do_update(index_elements=["username_key"], set_=changed, where=or_(*differs))


def _update(connection: Any, rows: list[dict[str, Any]], on_conflict: str) -> None:
    table = User.__table__
    columns = [column for column in rows[0] if column not in MATCHED_BY]
    if connection.dialect.name in UPSERT_DIALECTS:  # the upsert also updates existing usernames
        execute_many(connection, _insert_statement(connection.dialect.name, on_conflict, list(rows[0])), rows)
        return
    statement = (
        update(table)
        .where(table.c.username_key == bindparam("name_key"))
        .values({column: bindparam(f"new_{column}") for column in columns})
    )
    values = [{"name_key": r["username_key"], **{f"new_{c}": r[c] for c in columns}} for r in rows]
    connection.execute(statement, values)
