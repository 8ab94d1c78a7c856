"""Connection URLs: what a URL names (``parse_url``, the one classifier), masking passwords, driver names."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote, unquote_plus

# Scheme prefixes that wrap a database URL: Celery's database backend, kombu's SQLAlchemy transport.
WRAPPERS = ("db", "sqla", "sqlalchemy")
REDIS_SCHEMES = ("redis", "rediss", "redis+socket")
HOST_PORT_SCHEMES = ("redis", "rediss", "amqp", "amqps", "pyamqp")  # URLs urllib reads host and port of


@dataclass(frozen=True)
class ServiceUrl:
    """A service URL taken apart: ``db+postgresql+psycopg://u@h/d`` is wrapper ``db``, scheme
    ``postgresql+psycopg``, dialect ``postgresql``, driver ``psycopg``, rest ``u@h/d``."""

    wrapper: str | None
    scheme: str  # after the wrapper, before "://"
    rest: str  # after "://"

    @property
    def dialect(self) -> str:
        """The database or service: ``sqlite``, ``postgresql``, ``redis``, ``amqp``…"""
        return self.scheme.split("+", 1)[0]

    @property
    def driver(self) -> str | None:
        """The driver named after ``+`` (``psycopg``, ``pysqlite``), if any."""
        return self.scheme.split("+", 1)[1] if "+" in self.scheme else None

    @property
    def inner(self) -> str:
        """The URL without its wrapper: what SQLAlchemy reads of a ``db+`` or ``sqla+`` URL."""
        return f"{self.scheme}://{self.rest}"

    @property
    def is_sqlite(self) -> bool:
        """A SQLite database, wrapped or not."""
        return self.dialect == "sqlite"

    @property
    def sqlite_file(self) -> str:
        """The file a SQLite URL names (``sqlite:///rel``, ``sqlite:////abs``), without options; "" for none."""
        return self.rest[1:].split("?", 1)[0] if self.is_sqlite and self.rest.startswith("/") else ""

    @property
    def plain_sqlite(self) -> bool:
        """``sqlite:///…`` or ``sqlite+pysqlite:///…``: a SQLite URL Python's sqlite3 module can open."""
        return self.wrapper is None and self.scheme in ("sqlite", "sqlite+pysqlite") and self.rest.startswith("/")

    @property
    def plain_postgresql(self) -> bool:
        """A PostgreSQL URL libpq reads as SQLAlchemy does (psycopg or no driver named)."""
        return self.wrapper is None and self.scheme in ("postgresql", "postgres", "postgresql+psycopg")

    @property
    def is_redis(self) -> bool:
        """A Redis server (``redis``, ``rediss``, ``redis+socket``)."""
        return self.wrapper is None and self.scheme in REDIS_SCHEMES


def parse_url(url: str) -> ServiceUrl:
    """``url`` taken apart (no check: a string without ``://`` has an empty rest)."""
    scheme, _, rest = url.partition("://")
    wrapper, sep, inner = scheme.partition("+")
    if sep and wrapper in WRAPPERS:
        return ServiceUrl(wrapper, inner, rest)
    return ServiceUrl(None, scheme, rest)


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
    parsed = parse_url(url)
    if parsed.wrapper is None and parsed.scheme in ("postgresql", "postgres"):
        return "postgresql+psycopg://" + parsed.rest
    return url
