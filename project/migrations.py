"""Schema migrations: upgrade, downgrade and where the database stands."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from flask import current_app

from project.errors import NotFound
from project.extensions import db


def alembic_config() -> Config:
    """The Alembic configuration Flask-Migrate built for the current app."""
    config: Config = current_app.extensions["migrate"].migrate.get_config()
    return config


def current_revision() -> str | None:
    """The revision the database is at, or None for an empty database."""
    with db.engine.connect() as connection:
        revision: str | None = MigrationContext.configure(connection).get_current_revision()
    return revision


def migration_status() -> dict[str, Any]:
    """Current revision, head revision and the revisions still to apply, oldest first."""
    script = ScriptDirectory.from_config(alembic_config())
    head = script.get_current_head()
    current = current_revision()
    pending = [rev.revision for rev in script.iterate_revisions(head, current)]
    pending.reverse()
    return {"current": current, "head": head, "pending": pending, "at_head": current == head}


def _migrate(action: str, revision: str) -> dict[str, Any]:
    before = current_revision()
    try:
        getattr(command, action)(alembic_config(), revision)
    except CommandError as exc:
        raise NotFound(f"no revision {revision!r}: {exc}", hint="`appctl db status` shows the revisions") from None
    return {"from": before, "to": current_revision()}


def upgrade_database(revision: str = "head") -> dict[str, Any]:
    """Migrate up to ``revision``; returns ``{from, to}``. Running it again changes nothing."""
    return _migrate("upgrade", revision)


def downgrade_database(revision: str) -> dict[str, Any]:
    """Migrate down to ``revision`` (``base`` empties the schema); returns ``{from, to}``."""
    return _migrate("downgrade", revision)
