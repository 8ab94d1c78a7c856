"""Changing existing users: rename, new email, password, active or deactivated."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import current_app
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from project.errors import ACTIVATE_USER, SET_PASSWORD, InvalidInput, NotFound, UserExists, WrongPassword
from project.extensions import db
from project.users.models import User
from project.users.passwords import hash_password, password_matches
from project.users.service import email_fields, find_user, taken_message, username_fields


def update_user(ref: str, username: str | None = None, email: str | None = None) -> dict[str, Any]:
    """Give the user ``ref`` a new username and/or email, checked as ``user add`` checks them.

    A new name that reads as the user's own (``bob`` to ``Bob``) is allowed; one another user has
    is UserExists, also when another writer takes it meanwhile (the database's unique keys decide).
    """
    changes: dict[str, str] = {}
    if username is not None:
        changes.update(username_fields(username))
    if email is not None:
        changes.update(email_fields(email))
    if not changes:
        raise InvalidInput("nothing to update: give a new username, a new email or both")
    user_id = find_user(ref).id
    try:
        _update(user_id, changes)
    except IntegrityError:
        db.session.rollback()
        raise UserExists(taken_message(changes, other_than=user_id)) from None
    return find_user(str(user_id)).to_dict()


def set_password(ref: str, password: str) -> dict[str, Any]:
    """Store the hash of ``password`` for the user ``ref``; InvalidInput when it is too short or too long."""
    user_id = find_user(ref).id
    _update(user_id, {"password_hash": hash_password(password, current_app.config["MIN_PASSWORD_LENGTH"])})
    return find_user(str(user_id)).to_dict()


def check_password(ref: str, password: str) -> dict[str, Any]:
    """The user ``ref`` when ``password`` is theirs and the account is active; WrongPassword otherwise."""
    user = find_user(ref)
    if not user.active:
        raise WrongPassword(f"user {user.username!r} is deactivated", remedy=ACTIVATE_USER)
    if user.password_hash is None:
        raise WrongPassword(f"user {user.username!r} has no password", remedy=SET_PASSWORD)
    if not password_matches(user.password_hash, password):
        raise WrongPassword(f"the password of user {user.username!r} does not match")
    return user.to_dict()


def set_active(refs: Sequence[str], active: bool) -> list[dict[str, Any]]:
    """Activate or deactivate every user of ``refs``, all or none: one unknown user is NotFound, nothing changed."""
    ids = list(dict.fromkeys(find_user(ref).id for ref in refs))
    db.session.execute(update(User).where(User.id.in_(ids)).values(active=active))
    db.session.commit()
    return [find_user(str(user_id)).to_dict() for user_id in ids]


def _update(user_id: int, values: dict[str, Any]) -> None:
    """Write ``values`` to the user ``user_id`` and commit; NotFound when another writer deleted it meanwhile."""
    result = db.session.execute(update(User).where(User.id == user_id).values(**values))
    if result.rowcount == 0:  # type: ignore[attr-defined]
        db.session.rollback()
        raise NotFound(f"no user with id {user_id}: it was deleted meanwhile")
    db.session.commit()
