"""Malformed service URLs are configuration errors (exit 78), found when the app is built.

Without these checks a typo in ``DATABASE_URL``, ``CELERY_BROKER_URL`` or ``CELERY_RESULT_BACKEND``
surfaced later as a KeyError, a ValueError about a port, or a connection attempt to a host
called "notaurl".
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from project.errors import ConfigError
from project.urls import HOST_PORT_SCHEMES, mask_password, parse_url, url_password

BROKER_EXAMPLES = "redis://127.0.0.1:6379/0, amqp://127.0.0.1:5672// or sqla+sqlite:////path/broker.sqlite"
BACKEND_EXAMPLES = "redis://127.0.0.1:6379/0 or db+sqlite:////path/results.sqlite"
MAX_REDIS_DB = 2**31 - 2  # Redis counts its databases in a C int
DATABASE_EXAMPLES = "sqlite:////path/app.sqlite or postgresql://user@host:5432/database"
# Schemes that kombu's TRANSPORT_ALIASES and Celery's BACKEND_ALIASES hold (5.7.0; tests/test_urls.py
# checks): URLs with them are checked without importing kombu or Celery, which every command would
# otherwise pay for, the user commands that use neither included.
KNOWN_TRANSPORTS = ("amqp", "amqps", "pyamqp", "redis", "rediss", "sqla", "sqlalchemy")
KNOWN_BACKENDS = ("db", "redis", "rediss")


def _invalid(setting: str, url: str, why: str, examples: str) -> ConfigError:
    return ConfigError(f"{setting} {mask_password(url)!r} is not valid: {why}", hint=f"for example {examples}")


# Characters a password must not hold unencoded: each reader cuts the URL at another one of them.
# SQLAlchemy ends the password at the first "@", libpq (the job history) at "/"; urllib, which
# kombu, redis-py and Celery read broker URLs and Redis backend URLs with, at "/", "?" or "#".
# A "%" that starts no %XX escape: SQLAlchemy keeps it as it is, libpq refuses the URL.
_DATABASE_CUTS = "@/%"
_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_URLLIB_CUTS = "/?#"


def _check_password(setting: str, url: str, cuts: str) -> None:
    """Raise ConfigError, never showing the password, when drivers would read it differently."""
    password = url_password(url) or ""
    unencoded = sorted(set(password) & set(cuts) - {"%"})
    if "%" in cuts and _LONE_PERCENT.search(password):
        unencoded.append("%")
    if unencoded:
        codes = ", ".join(f"{char} as %{ord(char):02X}" for char in unencoded)
        raise ConfigError(
            f"{setting} {mask_password(url)!r} is not valid: its password holds "
            f"{' and '.join(repr(char) for char in unencoded)} unencoded, which drivers read differently",
            hint=f"percent-encode the password: {codes}",
        )


def check_database_url(url: str, setting: str = "DATABASE_URL", prefix: str = "", examples: str = "") -> None:
    """Raise ConfigError unless SQLAlchemy can parse ``url`` and knows its dialect.

    ``prefix`` (``sqla+``, ``db+``) and ``examples`` are for a database URL inside a Celery one.
    Plain SQLite and PostgreSQL URLs are checked without importing SQLAlchemy.
    """
    _check_password(setting, prefix + url, _DATABASE_CUTS)
    _check_sqlite_path(setting, prefix + url, url, examples)
    if _plain_database_url(url):
        return
    import warnings

    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SAWarning

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", SAWarning)  # SQLite's "Query string argument(s) … are not accepted"
            parsed = make_url(url)
            parsed.get_dialect()().create_connect_args(parsed)  # reads the query string's options
    except (ArgumentError, NoSuchModuleError, ValueError, TypeError, SAWarning) as exc:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        why = why.split(" and are being ignored")[0].split(" (Background on this")[0]  # SQLAlchemy's warning
        raise _invalid(setting, prefix + url, why, examples or DATABASE_EXAMPLES) from None


def _check_sqlite_path(setting: str, shown: str, url: str, examples: str) -> None:
    """Raise ConfigError for a SQLite file that is not one fixed place: a relative path follows the
    current directory (cron runs elsewhere), an in-memory database ends with each command."""
    parsed = parse_url(url)
    if parsed.wrapper or not parsed.is_sqlite:
        return
    path = parsed.sqlite_file.removeprefix("file:")  # a URI filename (``?uri=true``) names its path the same way
    if path in ("", ":memory:"):
        why = "an in-memory SQLite database ends with each command"
    elif not path.startswith("/"):
        why = f"the SQLite file {path!r} is a relative path, which would follow the current directory"
    else:
        return
    raise _invalid(setting, shown, why, examples or DATABASE_EXAMPLES)


def _plain_database_url(url: str) -> bool:
    """True for a SQLite file URL without options, or a PostgreSQL URL whose port parses."""
    parsed = parse_url(url)
    if parsed.plain_sqlite:
        return "?" not in url
    if not parsed.plain_postgresql:
        return False
    try:
        urlsplit(url).port  # noqa: B018  # raises ValueError for a port that is not a number in range
    except ValueError:
        return False
    return True


def _check_host_and_port(setting: str, url: str, examples: str) -> None:
    if parse_url(url).scheme not in HOST_PORT_SCHEMES:
        return  # other transports have URL shapes of their own (sentinel lists, cloud queues)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  # raises ValueError for a port that is not a number in range
    except ValueError as exc:
        raise _invalid(setting, url, str(exc), examples) from None
    database = parts.path.strip("/")
    if parts.scheme.startswith("redis") and database and not _redis_database_number(database):
        why = f"the Redis database {database!r} is not a number from 0 to {MAX_REDIS_DB}"
        raise _invalid(setting, url, why, examples)


def _redis_database_number(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 10 and int(text) <= MAX_REDIS_DB


def _scheme(setting: str, url: str, examples: str) -> str:
    scheme, sep, _ = url.partition("://")
    if not sep or not scheme:
        raise _invalid(setting, url, "it is not a URL (scheme://…)", examples)
    return scheme


def check_broker_url(url: str, setting: str = "CELERY_BROKER_URL") -> None:
    """Raise ConfigError unless ``url`` names a kombu transport and parses as a URL."""
    transport = _scheme(setting, url, BROKER_EXAMPLES).split("+", 1)[0]
    _check_password(setting, url, _URLLIB_CUTS)  # kombu reads every broker URL with urllib, sqla+ ones too
    if transport not in KNOWN_TRANSPORTS and not _kombu_transport(transport):
        raise _invalid(setting, url, f"no broker transport is called {transport!r}", BROKER_EXAMPLES)
    if transport in ("sqla", "sqlalchemy"):
        prefix, inner = url.split("+", 1)
        check_database_url(inner, setting, prefix + "+", BROKER_EXAMPLES)
    else:
        _check_host_and_port(setting, url, BROKER_EXAMPLES)


def _kombu_transport(name: str) -> bool:
    from kombu.transport import TRANSPORT_ALIASES

    return name in TRANSPORT_ALIASES


def _celery_backend(name: str) -> bool:
    from celery.app.backends import BACKEND_ALIASES

    return name in BACKEND_ALIASES


def check_backend_url(url: str, setting: str = "CELERY_RESULT_BACKEND") -> None:
    """Raise ConfigError unless ``url`` names a Celery result backend and parses as a URL."""
    scheme = _scheme(setting, url, BACKEND_EXAMPLES)
    backend = scheme.split("+", 1)[0]
    if "+" not in scheme:
        _check_password(setting, url, _URLLIB_CUTS)
    if backend not in KNOWN_BACKENDS and not _celery_backend(backend):
        raise _invalid(setting, url, f"no result backend is called {backend!r}", BACKEND_EXAMPLES)
    if scheme == "cache+memory":
        why = "it keeps each process's results in that process's memory, where no other process finds them"
        raise _invalid(setting, url, why, BACKEND_EXAMPLES)
    if backend == "db":  # db+DATABASE_URL: Celery's database backend
        check_database_url(url.split("+", 1)[1], setting, "db+", BACKEND_EXAMPLES)
    elif "+" not in scheme:
        _check_host_and_port(setting, url, BACKEND_EXAMPLES)
        _check_tls_backend(setting, url)


def _check_tls_backend(setting: str, url: str) -> None:
    """Celery's Redis backend refuses a ``rediss://`` URL without ``ssl_cert_reqs`` when first used
    (a ValueError, celery/backends/redis.py in 5.7): say so when the app is built instead."""
    parts = urlsplit(url)
    if parts.scheme == "rediss" and "ssl_cert_reqs" not in parse_qs(parts.query):
        why = "a rediss:// result backend needs ssl_cert_reqs"
        raise _invalid(setting, url, why, "rediss://host:6380/0?ssl_cert_reqs=CERT_REQUIRED")


def check_service_urls(database_url: str, broker_url: str, backend_url: str) -> None:
    """Check the three service URLs; the first malformed one is a ConfigError."""
    check_database_url(database_url)
    check_broker_url(broker_url)
    check_backend_url(backend_url)
