"""Helpers for connection URLs: masking passwords, normalising driver names."""

from __future__ import annotations

import re

# The password runs to the last "@" of the URL's authority (as urllib reads it), so one holding
# "@", "#", "/" or "?" unencoded is still masked whole.
_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][\w+.-]*://[^:/?#@\s]*:)(?P<password>\S*?)(?P<tail>@)(?=[^@\s/]*(?:[/\s]|$))")


def mask_password(text: str) -> str:
    """Replace the password of every URL in ``text`` with ``***``."""
    return _PASSWORD.sub(lambda m: f"{m['head']}***{m['tail']}", text)


def sqlalchemy_database_url(url: str) -> str:
    """Point ``postgresql://`` and ``postgres://`` URLs at the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
