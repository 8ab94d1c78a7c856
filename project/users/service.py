"""User rules: validation, uniqueness, lookup by id or username, streaming lists."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from sqlalchemy import delete, false, select
from sqlalchemy.exc import IntegrityError

from project.errors import LIST_USERS, InvalidInput, NotFound, UserExists
from project.extensions import STREAM_BATCH, db
from project.readable import invisible_part
from project.users.models import EMAIL_MAX, USERNAME_MAX, User
from project.users.names import KEY_MAX_FACTOR, comparison_key, email_key, normal_form

SORT_KEYS = ("id", "username", "email")
MAX_ID = 2**31 - 1  # the id column is a 32-bit integer on PostgreSQL
# Addresses of the common shape (ASCII, letters/digits/._+- before the @, a dotted domain ending in
# a letters-only TLD) that email_validator accepts; they skip its ~50 µs check (bulk imports).
_PLAIN_EMAIL = re.compile(
    r"(?P<local>[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*)@"
    r"(?P<domain>(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63})"
)

# email_validator's SPECIAL_USE_DOMAIN_NAMES (2.4.0), whose addresses it refuses, copied so that an
# address of the common shape is checked without importing email_validator: compiling its regular
# expressions costs about as much as the rest of `user add` beyond its libraries. A test compares
# the copy with the library's list.
SPECIAL_USE_DOMAINS = ("arpa", "invalid", "local", "localhost", "onion", "test")
_SPECIAL_USE_SUFFIXES = tuple("." + name for name in SPECIAL_USE_DOMAINS)  # "test" and "*.test", …


def check_username(username: str) -> None:
    """Raise InvalidInput unless ``username`` (in NFC) is 1-128 visible characters and not all digits."""
    if not username:
        raise InvalidInput("username must not be empty")
    if len(username) > USERNAME_MAX:
        raise InvalidInput(f"username is {len(username)} characters long; the limit is {USERNAME_MAX}")
    if not _visible(username):
        raise InvalidInput(f"username {username!r} contains spaces or control characters")
    if username.isdigit():
        raise InvalidInput(f"username {username!r} is all digits, which reads as a user id")
    unreadable = invisible_part(username)
    if unreadable:
        raise InvalidInput(f"username {username!r} {unreadable}")


def check_email(email: str) -> None:
    """Raise InvalidInput unless ``email`` is a syntactically valid address of at most 128 characters."""
    if len(email) > EMAIL_MAX:
        raise InvalidInput(f"email is {len(email)} characters long; the limit is {EMAIL_MAX}")
    if plainly_valid_email(email):
        return
    if not _visible(email):
        raise InvalidInput(f"email {email!r} contains spaces or control characters")
    unreadable = invisible_part(email)
    if unreadable:
        raise InvalidInput(f"email {email!r} {unreadable}")
    from email_validator import EmailNotValidError, validate_email

    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidInput(f"email {email!r} is not valid: {exc}") from None


def _visible(text: str) -> bool:
    """No spaces or control characters (every other Unicode space is unprintable too)."""
    return text.isprintable() and " " not in text


def plainly_valid_email(email: str) -> bool:
    """True for an address of the common shape that email_validator is known to accept."""
    match = _PLAIN_EMAIL.fullmatch(email)
    if match is None or len(match["local"]) > 64 or "--" in match["domain"]:  # "--": punycode rules apply
        return False
    domain = "." + match["domain"].lower()
    return not domain.endswith(_SPECIAL_USE_SUFFIXES)


def username_fields(username: str) -> dict[str, str]:
    """Check a username as given and return it as stored: NFC, with the key it is unique by."""
    username = normal_form(username)
    check_username(username)
    return {"username": username, "username_key": comparison_key(username)}


def email_fields(email: str) -> dict[str, str]:
    """Check an email as given and return it as stored: NFC, with the key it is unique by."""
    email = normal_form(email)
    check_email(email)
    return {"email": email, "email_key": email_key(email)}


def user_row(username: str, email: str) -> dict[str, str]:
    """Check a user as given and return it as stored: NFC, with the keys it is unique by."""
    row = username_fields(username)
    row.update(email_fields(email))
    return row


def taken_message(row: dict[str, str], other_than: int | None = None) -> str:
    """Which of the row's username or email a user (other than id ``other_than``) already has, as people read it."""
    fields = [field for field in ("username", "email") if field in row]
    for field in fields:
        column = getattr(User, field)
        query = select(column).where(getattr(User, f"{field}_key") == row[f"{field}_key"])
        taken = db.session.scalar(query if other_than is None else query.where(User.id != other_than))
        if taken is not None:
            message = f"{field} {row[field]!r} is already taken"
            return message if taken == row[field] else f"{message} (as {taken!r})"
    return " or ".join(f"{field} {row[field]!r}" for field in fields) + " is already taken"


def create_user(username: str, email: str, if_not_exists: bool = False) -> dict[str, Any]:
    """Validate and insert a user; with ``if_not_exists`` the same existing user is returned."""
    row = user_row(username, email)
    existing = db.session.scalar(select(User).where(User.username_key == row["username_key"]))
    if existing is not None and if_not_exists and existing.email_key == row["email_key"]:
        return existing.to_dict()
    user = User(**row)
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise UserExists(taken_message(row)) from None
    return user.to_dict()


def list_users(
    limit: int | None = None,
    offset: int = 0,
    search: str | None = None,
    sort: str = "id",
    active: bool | None = None,
    with_password_hashes: bool = False,
) -> Iterator[dict[str, Any]]:
    """Stream users as plain dicts in batches; ``sort`` is a column name, ``-`` prefixed for descending.

    ``active`` true or false keeps the active or the deactivated users only. The password hash is
    in the dicts only ``with_password_hashes`` (``user export --with-password-hashes``).
    """
    key = sort.lstrip("-")
    if key not in SORT_KEYS:
        raise InvalidInput(f"cannot sort by {sort!r}; choose one of {', '.join(SORT_KEYS)}")
    column = getattr(User, key)
    query = select(User.id, User.username, User.email, User.active)
    if with_password_hashes:
        query = query.add_columns(User.password_hash)
    if active is not None:
        query = query.where(User.active.is_(active))
    needle = comparison_key(search) if search else ""
    if len(needle) > max(USERNAME_MAX, EMAIL_MAX) * KEY_MAX_FACTOR:  # in no user's key
        query = query.where(false())
    elif needle:  # read as names are compared (NFC, case-folded: "STRASSE" finds Straße), alike on every database
        matches = User.username_key.contains(needle, autoescape=True) | User.email_key.contains(needle, autoescape=True)
        query = query.where(matches)
    query = query.order_by(column.desc() if sort.startswith("-") else column, User.id).offset(offset).limit(limit)
    result = db.session.execute(query.execution_options(yield_per=STREAM_BATCH))
    for row in result.mappings():
        yield dict(row)


def find_user(ref: str) -> User:
    """The user whose id (ASCII digits) or username (as people read it) is ``ref``; NotFound otherwise."""
    is_id = ref.isascii() and ref.isdigit()
    if is_id and int(ref) > MAX_ID:  # beyond the id column's range: no such user, not a database error
        user = None
    else:
        match = User.id == int(ref) if is_id else User.username_key == comparison_key(ref)
        user = db.session.scalar(select(User).where(match))
    if user is None:
        raise NotFound(f"no user {ref!r}", remedy=LIST_USERS)
    return user


def get_user(ref: str) -> dict[str, Any]:
    """The user ``ref`` (id or username) as plain data."""
    return find_user(ref).to_dict()


def delete_user(ref: str) -> dict[str, Any]:
    """Delete the user ``ref`` (id or username) and return what was deleted."""
    user = find_user(ref).to_dict()
    db.session.execute(delete(User).where(User.id == user["id"]))
    db.session.commit()
    return user
