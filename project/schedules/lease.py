"""The beat lease: one row that names the only beat allowed to send runs, and until when.

Taken and renewed by one conditional statement each (never read, then written), so two beats
racing for it cannot both win: an UPDATE that succeeds only for the holder or once the lease has
expired, else an INSERT that does nothing when the row exists. A leader renews it every tick; when it
dies, another beat takes it once it has expired (docs/operations.md, "Periodic jobs").
"""

from __future__ import annotations

import importlib
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Connection, delete, exists, or_, select, update

from project.extensions import db
from project.schedules.models import leases

LEASE_NAME = "beat"
LOCK_WAIT_SECONDS = 5.0  # a beat statement waits at most this long for a row another transaction holds


def take_lease(holder: str, seconds: float, now: datetime) -> bool:
    """Take or renew the lease for ``holder`` until ``now + seconds``; whether ``holder`` holds it."""
    expires = now + timedelta(seconds=seconds)
    with db.engine.begin() as conn:
        bound_lock_waits(conn)
        mine_or_expired = or_(leases.c.holder == holder, leases.c.expires_at < now)
        renew = update(leases).where(leases.c.name == LEASE_NAME, mine_or_expired)
        if conn.execute(renew.values(holder=holder, expires_at=expires)).rowcount:
            return True
        return _insert_if_absent(conn, {"name": LEASE_NAME, "holder": holder, "expires_at": expires})


def _insert_if_absent(conn: Connection, row: dict[str, object]) -> bool:
    dialect = importlib.import_module(f"sqlalchemy.dialects.{conn.dialect.name}")  # SQLite and PostgreSQL
    statement = dialect.insert(leases).values(row).on_conflict_do_nothing(index_elements=["name"])
    # RETURNING, not rowcount: psycopg reports no count for an INSERT that did nothing on conflict
    return conn.execute(statement.returning(leases.c.name)).first() is not None


def bound_lock_waits(conn: Connection) -> None:
    """On PostgreSQL, a statement of this transaction that waits more than LOCK_WAIT_SECONDS for a lock fails.

    The beat cannot stop while a statement of its tick waits, and the tick fails and is tried again
    instead. SQLite's waits are bounded by its busy timeout.
    """
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = {round(LOCK_WAIT_SECONDS * 1000)}")


def holds_lease(holder: str, now: datetime) -> ColumnElement[bool]:
    """A condition for a statement: ``holder`` holds an unexpired lease at ``now``."""
    return exists(
        select(leases.c.name).where(leases.c.name == LEASE_NAME, leases.c.holder == holder, leases.c.expires_at >= now)
    )


def release_lease(holder: str) -> None:
    """Give the lease up (a clean stop), so another beat need not wait for it to expire."""
    with db.engine.begin() as conn:
        bound_lock_waits(conn)
        conn.execute(delete(leases).where(leases.c.name == LEASE_NAME, leases.c.holder == holder))
