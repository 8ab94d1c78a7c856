"""SQL text both history writers share (the ORM's engine and the drivers run the same statements)."""

from __future__ import annotations


def earlier_time(dialect: str, stored: str, new: str) -> str:
    """The SQL for the earlier of two time columns, either of which may be NULL."""
    if dialect == "postgresql":
        return f"least({stored}, {new})"  # least() skips NULLs
    return f"min(coalesce({stored}, {new}), coalesce({new}, {stored}))"  # SQLite's min() returns NULL for one
