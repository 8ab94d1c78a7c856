"""The app's SQLite connections: write-ahead logging, and a lower() that knows every alphabet.

In its default (rollback journal) mode SQLite syncs the disk several times per commit and a
writer blocks every reader; with a write-ahead log a commit is one sync (still durable) and
readers (the CLI) go on while a worker writes. The mode is stored in the database file.
"""

from __future__ import annotations

import sqlite3
from typing import Any


def use_write_ahead_log(dbapi_connection: Any, _record: Any) -> None:
    """SQLAlchemy ``connect`` hook: switch the database to WAL (a no-op once it is)."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
    except sqlite3.OperationalError:
        pass  # another process holds the database right now: a later connection switches it
    finally:
        cursor.close()


LOWER = "unicode_lower"  # SQL function: lower() of every alphabet, as PostgreSQL's; SQLite's folds ASCII only


def add_unicode_lower(dbapi_connection: Any) -> None:
    """Give the connection ``unicode_lower(text)``, which the job filters match text with (any case)."""
    dbapi_connection.create_function(LOWER, 1, _lower, deterministic=True)


def prepare_connection(dbapi_connection: Any, record: Any) -> None:
    """SQLAlchemy ``connect`` hook of the app's database: WAL, and ``unicode_lower``."""
    use_write_ahead_log(dbapi_connection, record)
    add_unicode_lower(dbapi_connection)


def _lower(text: Any) -> Any:
    return text.lower() if isinstance(text, str) else text
