"""Importing users in bulk: every row is checked first, then all are written in one transaction.

Users are matched by username. ``on_conflict`` says what a row does when its username or email
is taken already: ``fail`` (nothing is imported), ``skip`` the row, or ``update`` the email of the
user with that username (an email that belongs to another user is still a conflict).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from project.errors import InvalidInput, UserExists
from project.extensions import db
from project.users.models import User
from project.users.rows import Row
from project.users.service import check_email, check_username
from project.users.writes import write_users

UserRow = tuple[int, str, str]  # line, username, email
ON_CONFLICT = ("fail", "skip", "update")
ERRORS_SHOWN = 5
LOOKUP_CHUNK = 500  # names per IN (...) lookup: under every database's limit on parameters


@dataclass
class ImportPlan:
    """What an import does: the rows to insert and update, and how many rows it leaves out."""

    inserts: list[dict[str, str]] = field(default_factory=list)
    updates: list[dict[str, str]] = field(default_factory=list)
    skipped: int = 0
    invalid: int = 0
    errors: list[str] = field(default_factory=list)


def import_users(
    rows: Iterable[Row],
    on_conflict: str = "fail",
    dry_run: bool = False,
    skip_invalid: bool = False,
    source: str = "the input",
) -> dict[str, Any]:
    """Check every row, then write them in one transaction; returns the counts and the first errors.

    An invalid row is InvalidInput (nothing written) unless ``skip_invalid``; a conflict under
    ``fail`` is UserExists (nothing written). ``dry_run`` writes nothing and counts the same.
    An input without a single row (empty, a header alone, blank lines, ``[]``) is InvalidInput too:
    an import of nothing is more likely a wrong file than a wish.
    """
    if on_conflict not in ON_CONFLICT:
        raise InvalidInput(f"--on-conflict must be one of {', '.join(ON_CONFLICT)}, not {on_conflict!r}")
    plan, valid = check_rows(rows)
    if not valid and not plan.invalid:
        raise InvalidInput(f"no users in {source} (it is empty, a CSV header alone or []); nothing was imported")
    if plan.invalid and not skip_invalid:
        more = plan.invalid - len(plan.errors)
        shown = "; ".join(plan.errors) + (f"; and {more} more" if more else "")
        total = plan.invalid + len(valid)
        raise InvalidInput(f"{plan.invalid} of {total} rows are invalid, nothing was imported: {shown}")
    plan_writes(plan, valid, on_conflict)
    inserted = len(plan.inserts)
    if not dry_run:
        inserted = write_users(plan.inserts, plan.updates, on_conflict)
    skipped = plan.skipped + len(plan.inserts) - inserted  # rows another writer inserted meanwhile
    return {
        "inserted": inserted,
        "updated": len(plan.updates),
        "skipped": skipped,
        "invalid": plan.invalid,
        "errors": plan.errors,
        "dry_run": dry_run,
    }


def check_rows(rows: Iterable[Row]) -> tuple[ImportPlan, list[UserRow]]:
    """Validate every row (the same rules as ``user add``, and no name or email twice in the input)."""
    plan, valid = ImportPlan(), list[UserRow]()
    errors: list[tuple[int, str]] = []
    for line, username, email in rows:
        try:
            if username is None:
                raise InvalidInput(email)  # the reader's own complaint about the row
            check_username(username)
            check_email(email)
        except InvalidInput as exc:
            plan.invalid += 1
            if len(errors) < ERRORS_SHOWN:
                errors.append((line, exc.message))
            continue
        valid.append((line, username, email))
    if len({row[1] for row in valid}) < len(valid) or len({row[2] for row in valid}) < len(valid):
        valid = _without_repeats(valid, plan, errors)
    plan.errors = [f"line {line}: {message}" for line, message in sorted(errors)[:ERRORS_SHOWN]]
    return plan, valid


def _without_repeats(rows: list[UserRow], plan: ImportPlan, errors: list[tuple[int, str]]) -> list[UserRow]:
    """The rows whose username and email appear on no earlier row; the others are invalid."""
    first: dict[tuple[str, str], int] = {}
    kept: list[UserRow] = []
    repeats: list[tuple[int, str]] = []
    for line, username, email in rows:
        earlier = first.setdefault(("username", username), line), first.setdefault(("email", email), line)
        if earlier == (line, line):
            kept.append((line, username, email))
            continue
        what, value, on = ("username", username, earlier[0]) if earlier[0] != line else ("email", email, earlier[1])
        plan.invalid += 1
        if len(repeats) < ERRORS_SHOWN:
            repeats.append((line, f"{what} {value!r} is also on line {on}"))
    errors.extend(repeats)
    return kept


def plan_writes(plan: ImportPlan, rows: list[UserRow], on_conflict: str) -> None:
    """Sort the valid rows into inserts, updates and skips against the users already there."""
    email_of, owner_of = existing_users(rows)
    for line, username, email in rows:
        current, owner = email_of.get(username), owner_of.get(email)
        if current is None and owner is None:
            plan.inserts.append({"username": username, "email": email})
        elif on_conflict == "fail":
            taken = f"username {username!r}" if current is not None else f"email {email!r}"
            raise UserExists(
                f"line {line}: {taken} is already taken; nothing was imported",
                hint="--on-conflict skip leaves such rows out, update changes the user's email",
            )
        elif on_conflict == "skip" or current == email:
            plan.skipped += 1
        elif owner is not None and owner != username:
            raise UserExists(f"line {line}: email {email!r} belongs to user {owner!r}; nothing was imported")
        else:
            plan.updates.append({"username": username, "email": email})


def existing_users(rows: list[UserRow]) -> tuple[dict[str, str], dict[str, str]]:
    """Of the users already there with a username or email in ``rows``: email by username, username by email."""
    email_of: dict[str, str] = {}
    if db.session.scalar(select(User.id).limit(1)) is None:
        return email_of, {}
    for column, position in ((User.username, 1), (User.email, 2)):
        values = [row[position] for row in rows]
        for start in range(0, len(values), LOOKUP_CHUNK):
            query = select(User.username, User.email).where(column.in_(values[start : start + LOOKUP_CHUNK]))
            email_of.update((username, email) for username, email in db.session.execute(query))
    return email_of, {email: username for username, email in email_of.items()}
