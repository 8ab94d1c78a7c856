"""``appctl user update``, ``set-password``, ``check-password``, ``activate`` and ``deactivate``."""

from __future__ import annotations

import click

from cli.passwords import password_stdin_option, read_password
from cli.render import note, output_option, render_record, render_records
from cli.state import with_app

COLUMNS = ("id", "username", "email", "active")


@click.command()
@click.argument("user_ref", metavar="USER")
@click.option("--username", help="The new username (the same rules as `user add`).")
@click.option("--email", help="The new email (the same rules as `user add`).")
@output_option
@with_app(celery=False)
def update(user_ref: str, username: str | None, email: str | None, fmt: str | None) -> None:
    """Change the username and/or email of USER (an id or username); print the updated user."""
    from project.users.accounts import update_user

    if username is None and email is None:
        raise click.UsageError("nothing to update: give --username, --email or both")
    render_record(update_user(user_ref, username=username, email=email), COLUMNS, fmt)


@click.command(name="set-password")
@click.argument("user_ref", metavar="USER")
@password_stdin_option
@with_app(celery=False)
def set_password(user_ref: str, password_stdin: bool) -> None:
    """Set the password of USER: asked twice on a terminal, or read with --password-stdin."""
    from project.users.accounts import set_password
    from project.users.service import get_user

    username = get_user(user_ref)["username"]  # an unknown user is exit 3 before anyone types a password
    set_password(user_ref, read_password(password_stdin, confirm=True))
    note(f"Set the password of user {username}.")


@click.command(name="check-password")
@click.argument("user_ref", metavar="USER")
@password_stdin_option
@with_app(celery=False)
def check_password(user_ref: str, password_stdin: bool) -> None:
    """Exit 0 when the password is USER's and USER is active, 1 when not (or no password is set)."""
    from project.users.accounts import check_password

    user = check_password(user_ref, read_password(password_stdin, confirm=False))
    note(f"The password of user {user['username']} matches.")


@click.command()
@click.argument("user_refs", metavar="USER…", nargs=-1, required=True)
@output_option
@with_app(celery=False)
def activate(user_refs: tuple[str, ...], fmt: str | None) -> None:
    """Activate USER… (ids or usernames); one unknown user changes none (exit 3)."""
    from project.users.accounts import set_active

    render_records(set_active(user_refs, active=True), COLUMNS, fmt)


@click.command()
@click.argument("user_refs", metavar="USER…", nargs=-1, required=True)
@output_option
@with_app(celery=False)
def deactivate(user_refs: tuple[str, ...], fmt: str | None) -> None:
    """Deactivate USER… (ids or usernames): they stay, check-password refuses them; one unknown user changes none."""
    from project.users.accounts import set_active

    render_records(set_active(user_refs, active=False), COLUMNS, fmt)
