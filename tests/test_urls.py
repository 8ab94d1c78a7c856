"""project/urls.py: the one classifier of service URLs (wrapper, dialect, driver) that every module asks."""

from __future__ import annotations

import pytest

from project.urls import parse_url


@pytest.mark.parametrize(
    ("url", "wrapper", "dialect", "driver", "inner"),
    [
        ("sqlite:////data/app.sqlite", None, "sqlite", None, "sqlite:////data/app.sqlite"),
        ("sqlite+pysqlite:///rel.db", None, "sqlite", "pysqlite", "sqlite+pysqlite:///rel.db"),
        ("sqla+sqlite:////data/broker.sqlite", "sqla", "sqlite", None, "sqlite:////data/broker.sqlite"),
        ("db+postgresql+psycopg://u@h/d", "db", "postgresql", "psycopg", "postgresql+psycopg://u@h/d"),
        ("postgres://u@h/d", None, "postgres", None, "postgres://u@h/d"),
        ("redis+socket:///tmp/r.sock", None, "redis", "socket", "redis+socket:///tmp/r.sock"),
        ("amqp://guest@h//", None, "amqp", None, "amqp://guest@h//"),
    ],
)
def test_a_url_is_taken_apart_once(url: str, wrapper: str | None, dialect: str, driver: str | None, inner: str) -> None:
    parsed = parse_url(url)
    assert (parsed.wrapper, parsed.dialect, parsed.driver, parsed.inner) == (wrapper, dialect, driver, inner)


@pytest.mark.parametrize(
    ("url", "sqlite_file", "plain_sqlite", "plain_postgresql", "is_redis"),
    [
        ("sqlite:////data/app.sqlite?timeout=3", "/data/app.sqlite", True, False, False),
        ("sqla+sqlite:///rel.db", "rel.db", False, False, False),
        ("sqlite://", "", False, False, False),
        ("postgresql+psycopg://u@h/d", "", False, True, False),
        ("postgres+psycopg://u@h/d", "", False, False, False),  # SQLAlchemy has no such name
        ("db+postgresql://u@h/d", "", False, False, False),
        ("rediss://h:6380/0", "", False, False, True),
        ("sentinel://h:26379", "", False, False, False),
    ],
)
def test_what_a_url_names(
    url: str, sqlite_file: str, plain_sqlite: bool, plain_postgresql: bool, is_redis: bool
) -> None:
    parsed = parse_url(url)
    assert (parsed.sqlite_file, parsed.plain_sqlite, parsed.plain_postgresql, parsed.is_redis) == (
        sqlite_file,
        plain_sqlite,
        plain_postgresql,
        is_redis,
    )


def test_the_schemes_checked_without_kombu_or_celery_are_theirs() -> None:
    """url_checks knows these schemes without importing kombu and Celery: they must be in their aliases."""
    from celery.app.backends import BACKEND_ALIASES
    from kombu.transport import TRANSPORT_ALIASES

    from project.url_checks import KNOWN_BACKENDS, KNOWN_TRANSPORTS

    assert set(KNOWN_TRANSPORTS) <= set(TRANSPORT_ALIASES)
    assert set(KNOWN_BACKENDS) <= set(BACKEND_ALIASES)


@pytest.mark.parametrize("password", ["Ky7%40Qx9", "Ky7%25Qx9", "p%2Fw%3F%23"])
def test_a_percent_encoded_database_password_is_accepted(password: str) -> None:
    from project.url_checks import check_database_url

    check_database_url(f"postgresql://postgres:{password}@127.0.0.1/db")  # no ConfigError
