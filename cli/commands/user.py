"""``appctl user``: add, list, show and delete users (changing them: user_accounts.py)."""

from __future__ import annotations

import click

from cli.confirm import confirm_or_abort, yes_option
from cli.lazy import LazyGroup
from cli.params import count_option
from cli.render import ids_option, note, output_option, render_record, render_records
from cli.state import with_app

COLUMNS = ("id", "username", "email", "active")
SORT_CHOICES = tuple(prefix + key for key in ("id", "username", "email") for prefix in ("", "-"))  # service.SORT_KEYS


# Imported when they run: `user add`, `list` and `show` load neither passwords nor CSV handling.
ACCOUNT_COMMANDS = {
    "update": "cli.commands.user_accounts:update",
    "set-password": "cli.commands.user_accounts:set_password",
    "check-password": "cli.commands.user_accounts:check_password",
    "activate": "cli.commands.user_accounts:activate",
    "deactivate": "cli.commands.user_accounts:deactivate",
    "import": "cli.commands.user_bulk:import_",
    "export": "cli.commands.user_bulk:export",
}


@click.group(cls=LazyGroup, lazy_subcommands=ACCOUNT_COMMANDS)
def user() -> None:
    """Manage users."""


@user.command()
@click.argument("username")
@click.argument("email")
@click.option("--if-not-exists", is_flag=True, help="Exit 0 when this same user already exists.")
@output_option
@with_app(celery=False)
def add(username: str, email: str, if_not_exists: bool, fmt: str | None) -> None:
    """Add a user with a unique USERNAME and EMAIL."""
    from project.users.service import create_user

    render_record(create_user(username, email, if_not_exists=if_not_exists), COLUMNS, fmt)


@user.command(name="list")
@count_option("--limit", help="At most this many users.")
@count_option("--offset", default=0, show_default=True, help="Skip this many users.")
@click.option("--search", help="Only users whose username or email contains this text (any case).")
@click.option(
    "--sort",
    type=click.Choice(SORT_CHOICES),
    default="id",
    show_default=True,
    show_choices=False,
    help="id, username or email; prefix - to reverse.",
)
@click.option("--active/--inactive", default=None, help="Only the active, or only the deactivated, users.")
@output_option
@ids_option
@with_app(celery=False)
def list_(limit: int | None, offset: int, search: str | None, sort: str, active: bool | None, fmt: str | None) -> None:
    """List users, streamed from the database."""
    from project.users.service import list_users

    users = list_users(limit=limit, offset=offset, search=search, sort=sort, active=active)
    render_records(users, COLUMNS, fmt)


@user.command()
@click.argument("user_ref", metavar="USER")
@output_option
@with_app(celery=False)
def show(user_ref: str, fmt: str | None) -> None:
    """Show one user, by id or username."""
    from project.users.service import get_user

    render_record(get_user(user_ref), COLUMNS, fmt)


@user.command()
@click.argument("user_ref", metavar="USER")
@yes_option
@output_option
@with_app(celery=False)
def delete(user_ref: str, yes: bool, fmt: str | None) -> None:
    """Delete one user, by id or username."""
    from project.users.service import delete_user, get_user

    confirm_or_abort(f"Delete user {get_user(user_ref)['username']}?", yes)
    deleted = delete_user(user_ref)
    note(f"Deleted user {deleted['username']} (id {deleted['id']}).")
    render_record(deleted, COLUMNS, fmt)
