"""``appctl user import`` and ``user export``: users in bulk, as CSV or JSON lines."""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Callable
from typing import IO, Any

import click

from cli.render import note, progress, render_records
from cli.state import with_app
from project.users.rows import FORMATS

COLUMNS = ("id", "username", "email", "active")


class _CountingReader(io.RawIOBase):
    """Reads from ``stream`` and reports how many bytes went by (for the progress bar)."""

    def __init__(self, stream: IO[bytes], advance: Callable[[int], None]) -> None:
        self.stream, self.advance = stream, advance
        self.read_some = getattr(stream, "read1", stream.read)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.read_some(len(buffer))
        buffer[: len(data)] = data
        self.advance(len(data))
        return len(data)


def _size(stream: IO[bytes]) -> int | None:
    """The size of a regular file, else None (a pipe: the progress bar cannot know the end)."""
    try:
        info = os.fstat(stream.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


def summary_line(summary: dict[str, Any]) -> str:
    """The stderr report of an import."""
    counts = f"{summary['inserted']} inserted, {summary['updated']} updated, {summary['skipped']} skipped"
    line = f"{'Dry run, nothing written: would have ' if summary['dry_run'] else 'Imported users: '}{counts}"
    line += f", {summary['invalid']} invalid."
    if summary["errors"]:
        line += " First errors: " + "; ".join(summary["errors"])
    return line


@click.command(name="import")
@click.argument("source", type=click.File("rb"), metavar="FILE|-")
@click.option("--format", "input_format", type=click.Choice(FORMATS), help="[default: from the name, else content]")
@click.option(
    "--on-conflict",
    type=click.Choice(("fail", "skip", "update")),
    default="fail",
    show_default=True,
    help="A taken username or email: fail (exit 4), skip the row, or update that user (email, active, password_hash).",
)
@click.option("--skip-invalid", is_flag=True, help="Import the valid rows, report the invalid ones (exit 0).")
@click.option("--dry-run", is_flag=True, help="Check and count everything; write nothing.")
@with_app(celery=False)
def import_(source: IO[bytes], input_format: str | None, on_conflict: str, skip_invalid: bool, dry_run: bool) -> None:
    """Import users from FILE (- for stdin): CSV with a username,email header, JSON lines or a JSON array.

    Optional columns: active (true or false) and password_hash (as `user export --with-password-hashes`
    writes it); left out or empty, an existing user keeps its own and a new user is active.

    Every row is checked before anything is written; one invalid row (exit 65) or, by default,
    one taken username or email (exit 4) means nothing is written; so does a FILE with no users
    (exit 65). An id column is ignored.
    """
    from project.users.importer import import_users
    from project.users.rows import rows_from

    with progress(_size(source), "Importing users") as advance:
        stream = io.BufferedReader(_CountingReader(source, advance))
        name = getattr(source, "name", None)
        rows = rows_from(stream, input_format, name)
        where = name if isinstance(name, str) and name not in ("-", "<stdin>") else "the input"
        summary = import_users(rows, on_conflict, dry_run, skip_invalid, source=where)
    note(summary_line(summary))


@click.command()
@click.option("-o", "--output", "fmt", type=click.Choice(FORMATS), default="jsonl", show_default=True)
@click.option(
    "--with-password-hashes",
    is_flag=True,
    help="Add each user's password_hash (null when none is set), for `user import` into another database.",
)
@with_app(celery=False)
def export(fmt: str, with_password_hashes: bool) -> None:
    """Write every user, in id order, in the shapes `user import` reads; no password hashes unless asked."""
    from project.users.service import list_users

    columns = (*COLUMNS, "password_hash") if with_password_hashes else COLUMNS
    render_records(list_users(with_password_hashes=with_password_hashes), columns, fmt)
