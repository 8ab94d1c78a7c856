"""Writing many users in one transaction: multi-row inserts, and the database's own upsert where it has one."""

from __future__ import annotations

import importlib
from typing import Any

from sqlalchemy import Insert, bindparam, insert, update
from sqlalchemy.exc import IntegrityError

from project.errors import UserExists
from project.extensions import db
from project.users.models import User

UPSERT_DIALECTS = ("sqlite", "postgresql")  # INSERT … ON CONFLICT


def write_users(inserts: list[dict[str, str]], updates: list[dict[str, str]], on_conflict: str) -> int:
    """Insert and update users in one transaction; returns how many were inserted.

    With ``skip`` and ``update`` the inserts are upserts where the database has them, so a user
    another writer adds meanwhile is skipped or updated instead of failing the import.
    """
    connection = db.session.connection()
    try:
        inserted = _insert(connection, inserts, on_conflict)
        if updates:
            _update(connection, updates, on_conflict)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise UserExists("another writer added one of these users meanwhile; nothing was imported") from None
    except BaseException:
        db.session.rollback()
        raise
    return inserted


def _insert(connection: Any, rows: list[dict[str, str]], on_conflict: str) -> int:
    if not rows:
        return 0
    result = execute_many(connection, _insert_statement(connection.dialect.name, on_conflict), rows)
    count = result.rowcount
    return count if 0 <= count <= len(rows) else len(rows)  # a driver that cannot count reports -1


def execute_many(connection: Any, statement: Any, rows: list[dict[str, str]]) -> Any:
    """``statement`` for every row in one driver ``executemany``, compiled once.

    ``connection.execute(statement, rows)`` does the same but processes every row's parameters
    in Python first, which costs as much as the database's own work for plain strings.
    """
    compiled = statement.compile(dialect=connection.dialect, column_keys=list(rows[0]))
    if compiled.positional:
        order = compiled.positiontup
        return connection.exec_driver_sql(compiled.string, [tuple(row[key] for key in order) for row in rows])
    return connection.exec_driver_sql(compiled.string, rows)


def _insert_statement(dialect: str, on_conflict: str) -> Insert:
    if on_conflict == "fail" or dialect not in UPSERT_DIALECTS:
        return insert(User.__table__)
    statement = importlib.import_module(f"sqlalchemy.dialects.{dialect}").insert(User.__table__)
    if on_conflict == "skip":
        return statement.on_conflict_do_nothing()
    new_email = {"email": statement.excluded.email, "email_key": statement.excluded.email_key}
    return statement.on_conflict_do_update(index_elements=["username_key"], set_=new_email)


def _update(connection: Any, rows: list[dict[str, str]], on_conflict: str) -> None:
    table = User.__table__
    if connection.dialect.name in UPSERT_DIALECTS:  # the upsert also updates existing usernames
        execute_many(connection, _insert_statement(connection.dialect.name, on_conflict), rows)
        return
    statement = (
        update(table)
        .where(table.c.username_key == bindparam("name_key"))
        .values(email=bindparam("new_email"), email_key=bindparam("new_email_key"))
    )
    values = [{"name_key": r["username_key"], "new_email": r["email"], "new_email_key": r["email_key"]} for r in rows]
    connection.execute(statement, values)
