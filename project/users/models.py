"""The ``users`` table."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from project.extensions import db
from project.users.names import KEY_MAX_FACTOR

USERNAME_MAX = 128
EMAIL_MAX = 128


class User(db.Model):  # type: ignore[name-defined]
    """An application user, identified by a unique username and a unique email.

    ``username_key`` and ``email_key`` are how people read them (project/users/names.py); the
    database keeps them unique, so ``Bob`` and ``bob`` cannot both exist, whoever writes them.
    """

    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("username_key", name="uq_users_username_key"),
        UniqueConstraint("email_key", name="uq_users_email_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(USERNAME_MAX), unique=True, nullable=False)
    email: Mapped[str] = mapped_column(String(EMAIL_MAX), unique=True, nullable=False)
    username_key: Mapped[str] = mapped_column(String(USERNAME_MAX * KEY_MAX_FACTOR), nullable=False)
    email_key: Mapped[str] = mapped_column(String(EMAIL_MAX * KEY_MAX_FACTOR), nullable=False)

    def to_dict(self) -> dict[str, Any]:
        """The user as plain data: ``{id, username, email}``."""
        return {"id": self.id, "username": self.username, "email": self.email}
