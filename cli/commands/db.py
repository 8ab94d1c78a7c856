"""``appctl db``: schema migrations."""

from __future__ import annotations

import re
from collections.abc import Callable

import click

from cli.confirm import confirm_or_abort, yes_option
from cli.render import note, output_option, render_record
from cli.state import with_app

STATUS_COLUMNS = ("current", "head", "pending", "at_head")
RELATIVE_DOWN = re.compile(r"-\d+")  # Alembic's "-5": five revisions down


class RevisionCommand(click.Command):
    """A command whose REVISION may be relative, ``-5``, which Click alone would read as an option."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if "--" not in args and any(RELATIVE_DOWN.fullmatch(arg) for arg in args):
            relative = [arg for arg in args if RELATIVE_DOWN.fullmatch(arg)]
            args = [arg for arg in args if not RELATIVE_DOWN.fullmatch(arg)] + ["--", *relative]
        return super().parse_args(ctx, args)


@click.group()
def db() -> None:
    """Database schema migrations."""


def _report(migrate: Callable[[], dict[str, str | None]]) -> None:
    """Run ``migrate`` and say where it took the database, even when a Ctrl-C waited for its end."""
    from project.migrations import MigrationInterrupted

    try:
        moved = migrate()
    except MigrationInterrupted as exc:
        _say_where(exc.moved)
        raise
    _say_where(moved)


def _say_where(moved: dict[str, str | None]) -> None:
    if moved["from"] == moved["to"]:
        note(f"Database already at {moved['to'] or 'base'}.")
    else:
        note(f"Database migrated from {moved['from'] or 'base'} to {moved['to'] or 'base'}.")


@db.command(cls=RevisionCommand)
@click.argument("revision", default="head")
@with_app
def upgrade(revision: str) -> None:
    """Migrate the database to REVISION (default: head); safe to repeat."""
    from project.migrations import upgrade_database

    _report(lambda: upgrade_database(revision))


@db.command(cls=RevisionCommand)
@click.argument("revision")
@yes_option
@with_app
def downgrade(revision: str, yes: bool) -> None:
    """Migrate the database down to REVISION ("base" removes every table)."""
    from project.migrations import downgrade_database

    confirm_or_abort(f"Downgrade the database to {revision}? Data in dropped tables is lost.", yes)
    _report(lambda: downgrade_database(revision))


@db.command()
@output_option
@with_app
def status(fmt: str | None) -> None:
    """Show the current and head revisions; exit 1 when migrations are pending."""
    from project.errors import Unhealthy
    from project.migrations import migration_status

    state = migration_status()
    render_record(state, STATUS_COLUMNS, fmt)
    if not state["at_head"]:
        raise Unhealthy(f"{len(state['pending'])} migration(s) pending", hint="run `appctl db upgrade`")
