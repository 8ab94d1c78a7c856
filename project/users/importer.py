"""Importing users in bulk: every row is checked first, then all are written in one transaction.

Users are matched by username, and names and emails compare as people read them (the keys of
project/users/names.py: ``Bob`` is ``bob``). ``on_conflict`` says what a row does when its username or email
is taken already: ``fail`` (nothing is imported), ``skip`` the row, or ``update`` the email of the
user with that username (an email that belongs to another user is still a conflict), and its
``active`` and ``password_hash`` where the row gives them. A row that leaves them out leaves them
as they are; a new user is active unless the row says otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from project.collector import collector_paused
from project.errors import SETTLE_CONFLICTS, InvalidInput, UserExists
from project.extensions import db
from project.users.models import User
from project.users.passwords import check_password_hash_format
from project.users.rows import Row
from project.users.service import user_row
from project.users.writes import COMPARED, write_users

UserRow = tuple[int, dict[str, Any]]  # line, the user as stored (service.user_row, and the row's extras)
ON_CONFLICT = ("fail", "skip", "update")
ERRORS_SHOWN = 5
LOOKUP_CHUNK = 500  # names per IN (...) lookup: under every database's limit on parameters


@dataclass
class ImportPlan:
    """What an import does: the rows to insert and update, and how many rows it leaves out."""

    inserts: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
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
        raise InvalidInput(f"the conflict rule must be one of {', '.join(ON_CONFLICT)}, not {on_conflict!r}")
    with collector_paused():  # a row per user, and no reference cycles among them
        return _import_rows(rows, on_conflict, dry_run, skip_invalid, source)


def _import_rows(
    rows: Iterable[Row], on_conflict: str, dry_run: bool, skip_invalid: bool, source: str
) -> dict[str, Any]:
    plan, valid = check_rows(rows)
    if not valid and not plan.invalid:
        raise InvalidInput(f"no users in {source} (it is empty, a CSV header alone or []); nothing was imported")
    if plan.invalid and not skip_invalid:
        more = plan.invalid - len(plan.errors)
        shown = "; ".join(plan.errors) + (f"; and {more} more" if more else "")
        total = plan.invalid + len(valid)
        raise InvalidInput(f"{plan.invalid} of {total} rows are invalid, nothing was imported: {shown}")
    plan_writes(plan, valid, on_conflict)
    inserted, changed = len(plan.inserts), 0
    if not dry_run:
        inserted, changed = write_users(plan.inserts, plan.updates, on_conflict)
    skipped = plan.skipped + len(plan.inserts) - inserted - changed  # rows another writer inserted meanwhile
    return {
        "inserted": inserted,
        "updated": len(plan.updates) + changed,
        "skipped": skipped,
        "invalid": plan.invalid,
        "errors": plan.errors,
        "dry_run": dry_run,
    }


def check_rows(rows: Iterable[Row]) -> tuple[ImportPlan, list[UserRow]]:
    """Validate every row (the same rules as ``user add``, and no name or email twice in the input)."""
    plan, valid = ImportPlan(), list[UserRow]()
    errors: list[tuple[int, str]] = []
    for line, username, email, extras in rows:
        try:
            if username is None:
                raise InvalidInput(email)  # the reader's own complaint about the row
            if "password_hash" in extras:
                check_password_hash_format(extras["password_hash"])
            row = user_row(username, email)
            if extras:
                row.update(extras)
            valid.append((line, row))
        except InvalidInput as exc:
            plan.invalid += 1
            if len(errors) < ERRORS_SHOWN:
                errors.append((line, exc.message))
    keys = ("username_key", "email_key")
    if any(len({row[key] for _, row in valid}) < len(valid) for key in keys):
        valid = _without_repeats(valid, plan, errors)
    plan.errors = [f"line {line}: {message}" for line, message in sorted(errors)[:ERRORS_SHOWN]]
    return plan, valid


def _without_repeats(rows: list[UserRow], plan: ImportPlan, errors: list[tuple[int, str]]) -> list[UserRow]:
    """The rows whose username and email (as people read them) appear on no earlier row; the others are invalid."""
    first: dict[tuple[str, str], int] = {}
    kept: list[UserRow] = []
    repeats: list[tuple[int, str]] = []
    for line, row in rows:
        earlier = [first.setdefault((what, row[f"{what}_key"]), line) for what in ("username", "email")]
        if earlier == [line, line]:
            kept.append((line, row))
            continue
        what, on = ("username", earlier[0]) if earlier[0] != line else ("email", earlier[1])
        plan.invalid += 1
        if len(repeats) < ERRORS_SHOWN:
            repeats.append((line, f"{what} {row[what]!r} is also on line {on}"))
    errors.extend(repeats)
    return kept


def plan_writes(plan: ImportPlan, rows: list[UserRow], on_conflict: str) -> None:
    """Sort the valid rows into inserts, updates and skips against the users already there."""
    existing, owner_of = existing_users(rows)
    for line, row in rows:
        user, owner = existing.get(row["username_key"]), owner_of.get(row["email_key"])
        current = user["email_key"] if user else None
        if current is None and owner is None:
            plan.inserts.append(row)
        elif on_conflict == "fail":
            taken = f"username {row['username']!r}" if current is not None else f"email {row['email']!r}"
            raise UserExists(
                f"line {line}: {taken} is already taken; nothing was imported",
                remedy=SETTLE_CONFLICTS,
            )
        elif on_conflict == "skip" or (user is not None and all(user[k] == row[k] for k in COMPARED if k in row)):
            plan.skipped += 1
        elif owner is not None and owner[0] != row["username_key"]:
            raise UserExists(f"line {line}: email {row['email']!r} belongs to user {owner[1]!r}; nothing was imported")
        else:
            plan.updates.append(row)


def existing_users(rows: list[UserRow]) -> tuple[dict[str, dict[str, Any]], dict[str, tuple[str, str]]]:
    """Of the users already there that share a username or email key with ``rows``.

    Returns them (username, email_key, active, password_hash) by username key, and their
    (username key, username) by email key.
    """
    found: dict[str, dict[str, Any]] = {}
    if db.session.scalar(select(User.id).limit(1)) is None:
        return {}, {}
    columns = (User.username_key, User.username, User.email_key, User.active, User.password_hash)
    for column in (User.username_key, User.email_key):
        values = [row[column.key] for _, row in rows]
        for start in range(0, len(values), LOOKUP_CHUNK):
            query = select(*columns).where(column.in_(values[start : start + LOOKUP_CHUNK]))
            found.update((user["username_key"], dict(user)) for user in db.session.execute(query).mappings())
    owner_of = {user["email_key"]: (key, user["username"]) for key, user in found.items()}
    return found, owner_of
