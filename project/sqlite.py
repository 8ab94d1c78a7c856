"""The app's SQLite database uses write-ahead logging.

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
