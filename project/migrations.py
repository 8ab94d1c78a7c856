"""Schema migrations: upgrade, downgrade and where the database stands.

Alembic reports every failure as one ``CommandError``; here each kind becomes the project's own
error: a revision argument that names nothing is NotFound, one that names no possible target is
InvalidInput, and a migrations folder that is missing or cannot be read is a ConfigError.

Alembic takes no lock: two upgrades at once (deploy scripts on two hosts) both began at the same
revision, and one failed half-way ("table already exists", a duplicate ``alembic_version`` row).
A migration holds ``migration_lock`` instead, and reads where the database stands only once it has it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import ResolutionError
from alembic.util import CommandError
from flask import current_app

from project.datadir import sqlite_path
from project.errors import SHOW_REVISIONS, ConfigError, Conflict, InvalidInput, NotFound
from project.extensions import db
from project.interrupts import interrupts_held

_REINSTALL = "the migrations ship inside appctl (package appctl_migrations); reinstall it"
_LOCK_POLL = 0.2  # seconds between attempts to take the migration lock
_LOCK_HINT = "APPCTL_MIGRATION_LOCK_TIMEOUT sets how long to wait for it"


def alembic_config() -> Config:
    """The Alembic configuration Flask-Migrate built for the current app."""
    config: Config = current_app.extensions["migrate"].migrate.get_config()
    return config


def current_revision() -> str | None:
    """The revision the database is at, or None for an empty database."""
    with db.engine.connect() as connection:
        revision: str | None = MigrationContext.configure(connection).get_current_revision()
    return revision


def migration_scripts() -> ScriptDirectory:
    """The migration scripts, every one loaded; a missing or unreadable folder is a ConfigError."""
    folder = alembic_config().get_main_option("script_location")
    try:
        script = ScriptDirectory.from_config(alembic_config())
        compile(Path(script.dir, "env.py").read_bytes(), "env.py", "exec")
        heads = script.get_heads()  # reads every version file
    except Exception as exc:  # reading scripts touches no service: whatever fails, the folder is broken
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"cannot read the migrations at {folder}: {message}", hint=_REINSTALL) from exc
    if len(heads) != 1:
        raise ConfigError(f"the migrations at {folder} have {len(heads)} head revisions, not one", hint=_REINSTALL)
    return script


def _known_revision(script: ScriptDirectory, revision: str | None) -> str | None:
    """``revision`` (the database's), checked against the scripts: one they lack is a ConfigError."""
    try:
        if revision is not None:
            script.get_revision(revision)
    except CommandError:
        raise ConfigError(
            f"the database is at revision {revision!r}, which these migrations do not have",
            hint="it was migrated by another version of appctl, or DATABASE_URL names another app's database",
        ) from None
    return revision


def migration_status() -> dict[str, Any]:
    """Current revision, head revision and the revisions still to apply, oldest first."""
    script = migration_scripts()
    head = script.get_current_head()
    current = _known_revision(script, current_revision())
    pending = [rev.revision for rev in script.iterate_revisions(head, current)]
    pending.reverse()
    return {"current": current, "head": head, "pending": pending, "at_head": current == head}


@contextmanager
def _revision_errors(revision: str) -> Iterator[None]:
    """Alembic's answer to the REVISION argument: NotFound when it names nothing, else InvalidInput."""
    try:
        yield
    except ResolutionError as exc:
        raise NotFound(f"no revision {revision!r}: {exc}", remedy=SHOW_REVISIONS) from None
    except CommandError as exc:
        if isinstance(exc.__cause__, ResolutionError):
            raise NotFound(f"no revision {revision!r}: {exc}", remedy=SHOW_REVISIONS) from None
        raise InvalidInput(f"cannot migrate to {revision!r}: {exc}", remedy=SHOW_REVISIONS) from None
    except AssertionError:  # Alembic asserts on some malformed targets ("", "0002+1" from base)
        raise InvalidInput(
            f"cannot migrate to {revision!r}: not a revision Alembic can parse", remedy=SHOW_REVISIONS
        ) from None


@contextmanager
def migration_lock() -> Iterator[None]:
    """Hold the database's migration lock; Conflict once APPCTL_MIGRATION_LOCK_TIMEOUT has passed without it.

    PostgreSQL: a session advisory lock keyed by the schema migrated, on a connection of its own.
    SQLite: an exclusive ``flock`` on ``<database file>.migrating``. Either is let go if the process dies.
    """
    deadline = time.monotonic() + current_app.config["APPCTL_MIGRATION_LOCK_TIMEOUT"]
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect() as conn:
            # coalesce: with no schema to migrate (search_path names none that exists) the key is NULL
            # and the lock never taken; the migration then fails and says why.
            key = "SELECT hashtext('appctl-migrations ' || coalesce(current_schema(), ''))"
            while not conn.exec_driver_sql(f"SELECT pg_try_advisory_lock(({key}))").scalar():
                _wait_or_give_up(deadline)
            try:
                yield
            finally:
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock(({key}))")
        return
    database = sqlite_path(current_app.config["DATABASE_URL"])
    if db.engine.dialect.name != "sqlite" or database is None:
        yield  # another database (MySQL, …) or SQLite in memory: no lock of ours
        return
    import fcntl

    # Private as every file of the data directory (project/datadir.py): read and written by its owner only.
    with os.fdopen(os.open(f"{database}.migrating", os.O_RDWR | os.O_CREAT, 0o600), "r+") as lock_file:
        while True:
            try:
                fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                _wait_or_give_up(deadline)
        yield


def _wait_or_give_up(deadline: float) -> None:
    if time.monotonic() >= deadline:
        raise Conflict("another migration of this database is running and did not end in time", hint=_LOCK_HINT)
    time.sleep(_LOCK_POLL)


def _migrate(action: str, revision: str) -> dict[str, Any]:
    script = migration_scripts()
    # SQLite changes its schema outside transactions (pysqlite commits before DDL), so a migration cut
    # short by Ctrl-C left tables it could not get past; PostgreSQL rolls back, and may be interrupted.
    interruptible = db.engine.dialect.name == "postgresql"
    moved: dict[str, Any] = {}
    try:
        with migration_lock(), nullcontext() if interruptible else interrupts_held():
            before = _known_revision(script, current_revision())
            with _revision_errors(revision):
                if "@" in revision:  # Alembic's downgrade takes an unknown BRANCH@… for "nowhere to go"
                    script.revision_map.get_revisions(revision.rpartition("@")[0])
                getattr(command, action)(alembic_config(), revision)
            moved = {"from": before, "to": current_revision()}
    except KeyboardInterrupt:
        if moved:  # SQLite went on to the end first: say where it got
            raise MigrationInterrupted(moved) from None
        raise
    return moved


class MigrationInterrupted(KeyboardInterrupt):
    """Ctrl-C came while a SQLite migration ran, and the migration went on to its end: ``moved`` is ``{from, to}``."""

    def __init__(self, moved: dict[str, Any]) -> None:
        super().__init__()
        self.moved = moved


def upgrade_database(revision: str = "head") -> dict[str, Any]:
    """Migrate up to ``revision``; returns ``{from, to}``. Running it again changes nothing."""
    return _migrate("upgrade", revision)


def downgrade_database(revision: str) -> dict[str, Any]:
    """Migrate down to ``revision`` (``base`` empties the schema); returns ``{from, to}``."""
    return _migrate("downgrade", revision)
