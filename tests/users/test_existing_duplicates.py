"""Migration 0003 on a database that already holds users who read as the same: it fails before any change.

Then, once the duplicates are gone, it fills the keys, stores NFC, and goes down and up again.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import fresh_pg_schema, invoke_appctl

DUPLICATES = [
    (1, "Bob", "bob@example.com"),
    (2, "carol", "Carol@Example.com"),
    (3, "bob", "robert@example.com"),
    (4, "Jos\u00e9", "jose@example.com"),
    (5, "jose\u0301", "j2@example.com"),
    (6, "dave", "CAROL@example.com"),
]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def database_url(request: pytest.FixtureRequest, env: dict[str, str]) -> Iterator[str]:
    """A SQLAlchemy URL for an empty database the test owns (a PostgreSQL schema of its own), set in ``env``."""
    if request.param == "sqlite":
        yield f"sqlite:///{env['APPCTL_DATA_DIR']}/app.sqlite"
        return
    with fresh_pg_schema("appctl_dups") as url:
        env["DATABASE_URL"] = url
        yield url.replace("postgresql://", "postgresql+psycopg://", 1)


def execute(url: str, statement: str, rows: list[dict[str, object]] | None = None) -> list[tuple[object, ...]]:
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            result = connection.execute(text(statement), rows) if rows else connection.execute(text(statement))
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()


def stored_users(url: str) -> list[tuple[object, ...]]:
    return execute(url, "SELECT id, username, email FROM users ORDER BY id")


def test_existing_duplicates_stop_the_upgrade_before_any_change(env: dict[str, str], database_url: str) -> None:
    assert invoke_appctl("db", "upgrade", "0002", env=env).returncode == 0
    rows = [{"id": n, "username": name, "email": email} for n, name, email in DUPLICATES]
    execute(database_url, "INSERT INTO users (id, username, email) VALUES (:id, :username, :email)", rows)
    for _ in range(2):  # and again: the first failure left nothing half-done behind
        upgraded = invoke_appctl("db", "upgrade", env=env)
        assert (upgraded.returncode, upgraded.stdout) == (4, ""), upgraded.stderr
        assert upgraded.stderr == (
            "Error: 3 groups of existing users read as the same user, nothing was migrated:"
            " username 'Bob' (id 1) = 'bob' (id 3); username 'José' (id 4) = 'jose\u0301' (id 5);"
            " email 'Carol@Example.com' (id 2) = 'CAROL@example.com' (id 6)"
            " (hint: rename or delete all but one user of each group (appctl user delete ID),"
            " then run db upgrade again)\n"
        )
        assert json.loads(invoke_appctl("db", "status", "-o", "json", env=env).stdout)["current"] == "0002"
        assert stored_users(database_url) == [tuple(row) for row in DUPLICATES]


def test_the_upgrade_keys_existing_users_and_goes_down_and_up_again(env: dict[str, str], database_url: str) -> None:
    assert invoke_appctl("db", "upgrade", "0002", env=env).returncode == 0
    rows = [
        {"id": 1, "username": "Jose\u0301", "email": "Jose\u0301@Example.com"},
        {"id": 2, "username": "bo", "email": "b@e.com"},
    ]
    execute(database_url, "INSERT INTO users (id, username, email) VALUES (:id, :username, :email)", rows)
    assert invoke_appctl("db", "upgrade", env=env).returncode == 0
    keyed = execute(database_url, "SELECT username, email, username_key, email_key FROM users ORDER BY id")
    assert keyed == [
        ("Jos\u00e9", "Jos\u00e9@Example.com", "jos\u00e9", "jos\u00e9@example.com"),
        ("bo", "b@e.com", "bo", "b@e.com"),
    ]
    refused = invoke_appctl("user", "add", "JOSE\u0301", "new@example.com", env=env)
    assert (refused.returncode, refused.stderr) == (
        4,
        "Error: username 'JOS\u00c9' is already taken (as 'Jos\u00e9')\n",
    )
    downgraded = invoke_appctl("db", "downgrade", "0002", "--yes", env=env)
    assert downgraded.returncode == 0, downgraded.stderr
    assert stored_users(database_url) == [(1, "Jos\u00e9", "Jos\u00e9@Example.com"), (2, "bo", "b@e.com")]
    assert invoke_appctl("db", "upgrade", env=env).returncode == 0
    assert (
        invoke_appctl("user", "show", "BO", "-o", "json", env=env).stdout
        == '{"id": 2, "username": "bo", "email": "b@e.com", "active": true}\n'
    )


def test_migration_0007_stops_on_two_spellings_of_one_mailbox_then_keys_them(
    env: dict[str, str], database_url: str
) -> None:
    """An A-label (``xn--exmple-cua``) and the Unicode it encodes (``exämple``) are one mailbox from 0007 on."""
    assert invoke_appctl("db", "upgrade", "0006", env=env).returncode == 0
    rows = [
        {"id": 1, "username": "u1", "email": "\u00fc@ex\u00e4mple.com", "email_key": "\u00fc@ex\u00e4mple.com"},
        {"id": 2, "username": "u2", "email": "\u00dc@XN--EXMPLE-CUA.com", "email_key": "\u00fc@xn--exmple-cua.com"},
        {"id": 3, "username": "u3", "email": "a@xn--p1ai.xn--zz.com", "email_key": "a@xn--p1ai.xn--zz.com"},
    ]
    insert = (
        "INSERT INTO users (id, username, email, username_key, email_key)"
        " VALUES (:id, :username, :email, :username, :email_key)"
    )
    execute(database_url, insert, rows)
    upgraded = invoke_appctl("db", "upgrade", env=env)
    assert (upgraded.returncode, upgraded.stderr) == (
        4,
        "Error: 1 group(s) of existing users have one mailbox, nothing was migrated:"
        " email '\u00fc@ex\u00e4mple.com' (id 1) = '\u00dc@XN--EXMPLE-CUA.com' (id 2) (hint: change the email of,"
        " or delete, all but one user of each group (appctl user delete ID), then run db upgrade again)\n",
    )
    assert json.loads(invoke_appctl("db", "status", "-o", "json", env=env).stdout)["current"] == "0006"
    assert invoke_appctl("user", "delete", "u1", "--yes", env=env).returncode == 0
    assert invoke_appctl("db", "upgrade", env=env).returncode == 0
    keys = execute(database_url, "SELECT email, email_key FROM users ORDER BY id")
    assert keys == [
        ("\u00dc@XN--EXMPLE-CUA.com", "\u00fc@ex\u00e4mple.com"),
        ("a@xn--p1ai.xn--zz.com", "a@\u0440\u0444.xn--zz.com"),
    ]
    refused = invoke_appctl("user", "add", "u4", "\u00fc@ex\u00e4mple.COM", env=env)
    assert (refused.returncode, refused.stderr) == (
        4,
        "Error: email '\u00fc@ex\u00e4mple.COM' is already taken (as '\u00dc@XN--EXMPLE-CUA.com')\n",
    )
    assert invoke_appctl("db", "downgrade", "0006", "--yes", env=env).returncode == 0
    assert invoke_appctl("db", "upgrade", env=env).returncode == 0
