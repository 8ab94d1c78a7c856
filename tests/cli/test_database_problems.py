"""A database that answers but cannot serve appctl: each cause gets its own line, on the real PostgreSQL."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import pytest

from project.failures import unavailable
from tests.conftest import run_appctl, service_url


def _with(url: str, *, user: str | None = None, database: str | None = None) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc if user is None else f"{user}@{parts.hostname}:{parts.port or 5432}"
    return urlunsplit(parts._replace(netloc=netloc, path=f"/{database}" if database else parts.path, query=""))


@pytest.mark.parametrize("command", [("user", "list"), ("db", "upgrade"), ("user", "add", "ann", "ann@example.com")])
def test_a_database_that_does_not_exist_says_so(env: dict[str, str], command: tuple[str, ...]) -> None:
    url = _with(service_url("TEST_DATABASE_URL"), database="appctl_nosuch_db")
    result = run_appctl(*command, env={**env, "DATABASE_URL": url})
    assert result.returncode == 69, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith(f"Error: the database at {url} does not exist (hint: create it")
    assert len(result.stderr.splitlines()) == 1
    assert "not initialised" not in result.stderr


def test_a_role_that_does_not_exist_says_so(env: dict[str, str]) -> None:
    url = _with(service_url("TEST_DATABASE_URL"), user="appctl_nosuch_role")
    result = run_appctl("user", "list", env={**env, "DATABASE_URL": url})
    assert result.returncode == 69, result.stderr
    assert result.stderr.startswith(f"Error: the database at {url} has no role 'appctl_nosuch_role' (hint: create")
    assert len(result.stderr.splitlines()) == 1


def test_status_names_the_missing_database(env: dict[str, str]) -> None:
    url = _with(service_url("TEST_DATABASE_URL"), database="appctl_nosuch_db")
    result = run_appctl("status", "-o", "json", env={**env, "DATABASE_URL": url})
    assert result.returncode == 1
    assert f"the database at {url} does not exist" in result.stdout


def test_a_schema_that_does_not_exist_says_so(env: dict[str, str]) -> None:
    url = _with(service_url("TEST_DATABASE_URL")) + "?options=-csearch_path%3Dappctl_nosuch_schema"
    result = run_appctl("db", "upgrade", env={**env, "DATABASE_URL": url})
    assert result.returncode == 69, result.stderr
    assert result.stderr.startswith(f"Error: the schema that {url} selects does not exist (hint: create the schema")


URL = "postgresql://ann:secret@db.example/app"
WHERE = "postgresql://ann:***@db.example/app"
CONNECTION = 'connection failed: connection to server at "10.0.0.1", port 5432 failed: '


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (CONNECTION + 'FATAL:  database "app" does not exist', f"the database at {WHERE} does not exist"),
        (CONNECTION + 'FATAL:  role "ann" does not exist', f"the database at {WHERE} has no role 'ann'"),
        (CONNECTION + 'FATAL:  password authentication failed for user "ann"', f"the database at {WHERE} refused"),
        ('relation "users" does not exist', f"the database at {WHERE} is not initialised"),
        ("(sqlite3.OperationalError) no such table: users", f"the database at {WHERE} is not initialised"),
        ('column "email" does not exist', f"the database at {WHERE} is behind the app's schema"),
        ("(sqlite3.OperationalError) no such column: users.email", f"the database at {WHERE} is behind"),
        ('schema "app" does not exist', f"the schema that {WHERE} selects does not exist"),
        ("(sqlite3.OperationalError) database or disk is full", "no space left on the device holding the database"),
        # "does not exist" alone means none of these: a function, a type, a sequence are not a missing table
        ("function nosuch() does not exist", f"cannot reach the database at {WHERE}: function nosuch()"),
        ('type "citext" does not exist', f'cannot reach the database at {WHERE}: type "citext" does not exist'),
    ],
)
def test_each_message_maps_only_what_it_means(text: str, message: str) -> None:
    assert unavailable("database", URL, Exception(text)).message.startswith(message)


def test_enospc_is_a_full_disk_for_any_service() -> None:
    error = unavailable("broker", "sqla+sqlite:////data/broker.sqlite", OSError(28, "No space left on device"))
    assert error.message == "no space left on the device holding the broker at sqla+sqlite:////data/broker.sqlite"
