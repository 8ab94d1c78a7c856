"""Helpers for connection URLs: masking passwords, normalising driver names."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from urllib.parse import unquote, unquote_plus

# The password runs from the first ":" of the URL's user part to the last "@" before the URL ends
# (a space), so one holding "@", "#", "/", "?" or ":" unencoded is masked whole, whichever way a
# driver reads it. The user part may hold "@" ("user@server", as some clouds name users).
# A scheme starts where no scheme character precedes it and is at most 40 long: unbounded, the
# search was quadratic on a long word (a 100,000-character username took half a minute to mask).
_PASSWORD = re.compile(r"(?P<head>(?<![\w+.-])[a-zA-Z][\w+.-]{0,40}://[^:/?#\s]*?:)(?P<password>\S*)(?P<tail>@)")
# Where a driver may cut a password it misreads: URL delimiters, query separators, escapes.
_CUTS = re.compile(r"(?:[@#/?:&=;,\[\]\s]|%[0-9a-fA-F]{2})+")
SHORTEST_SECRET = 3  # shorter pieces of a password are not masked on their own: they would mask common words
MASK = "***"


def mask_password(text: str) -> str:
    """Replace the password of every URL in ``text`` with ``***``."""
    return _PASSWORD.sub(lambda m: f"{m['head']}{MASK}{m['tail']}", text)


def url_password(url: str) -> str | None:
    """The password of ``url`` read the widest way (to the last "@"), as written; None without one."""
    found = _PASSWORD.search(url)
    return found["password"] if found else None


def password_fragments(url: str) -> set[str]:
    """``url``'s password, decoded too, and every piece a driver could cut it into (the short ones left out)."""
    password = url_password(url)
    if not password:
        return set()
    forms = {password, unquote(password), unquote_plus(password)}
    pieces = {piece for form in forms for piece in _CUTS.split(form)}
    return {text for text in forms | pieces if len(text) >= SHORTEST_SECRET}


@functools.lru_cache(maxsize=8)
def _secrets_pattern(urls: tuple[str, ...]) -> re.Pattern[str] | None:
    fragments = set().union(*(password_fragments(url) for url in urls))
    if not fragments:
        return None
    return re.compile("|".join(re.escape(text) for text in sorted(fragments, key=len, reverse=True)))


def mask_secrets(text: str, urls: Iterable[str]) -> str:
    """``text`` with URL passwords masked and every fragment of the passwords in ``urls`` too.

    A driver that reads a URL differently echoes pieces of its password as a host, port or path
    ("failed to resolve host 'secret@127.0.0.1'"): those go too.
    """
    text = mask_password(text)
    pattern = _secrets_pattern(tuple(sorted(set(urls))))
    return pattern.sub(MASK, text) if pattern else text


def sqlalchemy_database_url(url: str) -> str:
    """Point ``postgresql://`` and ``postgres://`` URLs at the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
