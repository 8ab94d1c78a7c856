"""The ``users`` table."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from project.extensions import db

USERNAME_MAX = 128
EMAIL_MAX = 128


class User(db.Model):  # type: ignore[name-defined]
    """An application user, identified by a unique username and a unique email."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(USERNAME_MAX), unique=True, nullable=False)
    email: Mapped[str] = mapped_column(String(EMAIL_MAX), unique=True, nullable=False)

    def to_dict(self) -> dict[str, Any]:
        """The user as plain data: ``{id, username, email}``."""
        return {"id": self.id, "username": self.username, "email": self.email}
