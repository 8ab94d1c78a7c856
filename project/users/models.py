"""The ``users`` table."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Integer, String, UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column

from project.extensions import db
from project.users.names import KEY_MAX_FACTOR

USERNAME_MAX = 128
EMAIL_MAX = 128
PASSWORD_HASH_MAX = 256  # Werkzeug's scrypt hashes are 162 characters, its pbkdf2 ones about 100


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
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=true())
    # Never in to_dict(): the hash leaves the database only through `user export --with-password-hashes`.
    password_hash: Mapped[str | None] = mapped_column(String(PASSWORD_HASH_MAX), nullable=True)

    def to_dict(self) -> dict[str, Any]:
        """The user as plain data: ``{id, username, email, active}``, never the password hash."""
        return {"id": self.id, "username": self.username, "email": self.email, "active": self.active}

    def __repr__(self) -> str:
        return f"<User {self.id} {self.username!r}>"
