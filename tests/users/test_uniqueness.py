"""Users are unique as people read them (any case, NFC), and the database, not only the service, holds it.

Every rule runs through the CLI on SQLite and PostgreSQL, and every refusal leaves the users as they were.
"""

from __future__ import annotations

import json
import unicodedata
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import insert, text
from sqlalchemy.exc import IntegrityError

from cli import cli
from project.extensions import db
from project.users.models import User
from project.users.names import comparison_key

DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.services)]


@pytest.fixture(params=DATABASES)
def database(request: pytest.FixtureRequest, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A migrated database: the embedded SQLite file, or PostgreSQL (a schema shared by the session's tests)."""
    if request.param == "postgresql":
        monkeypatch.setenv("DATABASE_URL", request.getfixturevalue("pg_url"))
    request.getfixturevalue("app")
    yield str(request.param)
    db.session.remove()


@pytest.fixture
def tag() -> str:
    """A suffix that keeps this test's users apart from the others' on the shared PostgreSQL schema."""
    return uuid.uuid4().hex[:8]


def invoke(runner: CliRunner, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def users(runner: CliRunner) -> list[dict[str, Any]]:
    code, stdout, stderr = invoke(runner, "user", "list", "-o", "json")
    assert code == 0, stderr
    return list(json.loads(stdout))


def refused(runner: CliRunner, code: int, *args: str) -> str:
    """Run ``appctl ARGS``, expect exit ``code``, one line on stderr, nothing on stdout and no change."""
    before = users(runner)
    result = invoke(runner, *args)
    assert (result[0], result[1]) == (code, ""), result
    assert result[2].startswith("Error: ") and result[2].count("\n") == 1, result[2]
    assert users(runner) == before
    return result[2]


def add(runner: CliRunner, username: str, email: str) -> dict[str, Any]:
    code, stdout, stderr = invoke(runner, "user", "add", "-o", "json", "--", username, email)
    assert code == 0, stderr
    return dict(json.loads(stdout))


@pytest.mark.parametrize(
    ("search", "found"),
    [
        ("JOSÉ", "jos\u00e9"),
        ("É", "jos\u00e9"),
        ("jose\u0301", "jos\u00e9"),  # typed decomposed
        ("STRASSE", "Stra\u00dfe"),  # full case folding: ß is ss
        ("straße", "Stra\u00dfe"),
        ("ALICE@EX", "alice"),
    ],
)
def test_search_reads_names_as_they_are_compared_on_every_database(
    runner: CliRunner, database: str, tag: str, search: str, found: str
) -> None:
    """``user list --search`` in any case, Unicode included: SQLite's LIKE folded ASCII only, PostgreSQL's none."""
    for name in ("jose\u0301", "Stra\u00dfe", "alice"):
        add(runner, f"{name}{tag}", f"{tag}{name.lower().encode('ascii', 'ignore').decode()}@example.com")
    code, stdout, stderr = invoke(runner, "user", "list", "--search", search, "-o", "json")
    assert (code, stderr) == (0, "")
    assert [user["username"] for user in json.loads(stdout) if user["username"].endswith(tag)] == [f"{found}{tag}"]


@pytest.mark.parametrize("variant", ["bob", "BOB", "bOb"])
def test_usernames_are_unique_in_any_case(runner: CliRunner, database: str, tag: str, variant: str) -> None:
    add(runner, f"Bob{tag}", f"bob{tag}@example.com")
    message = refused(runner, 4, "user", "add", f"{variant}{tag}", f"other{tag}@example.com")
    assert message == f"Error: username '{variant}{tag}' is already taken (as 'Bob{tag}')\n"


@pytest.mark.parametrize("variant", ["alice@example.com", "ALICE@EXAMPLE.COM", "Alice@example.COM"])
def test_emails_are_unique_in_any_case(runner: CliRunner, database: str, tag: str, variant: str) -> None:
    add(runner, f"alice{tag}", f"Alice{tag}@Example.com")
    local, domain = variant.split("@")
    message = refused(runner, 4, "user", "add", f"carol{tag}", f"{local}{tag}@{domain}")
    assert message.startswith(f"Error: email '{local}{tag}@{domain}' is already taken (as 'Alice{tag}@Example.com')")


def test_usernames_compare_in_nfc_and_are_stored_in_nfc(runner: CliRunner, database: str, tag: str) -> None:
    decomposed, precomposed = f"Jose\u0301{tag}", f"Jos\u00e9{tag}"
    assert add(runner, decomposed, f"jose{tag}@example.com")["username"] == precomposed
    refused(runner, 4, "user", "add", precomposed, f"other{tag}@example.com")
    refused(runner, 4, "user", "add", f"JOSE\u0301{tag}", f"other{tag}@example.com")
    assert invoke(runner, "user", "show", "-o", "json", decomposed)[0] == 0


def test_emails_compare_in_nfc(runner: CliRunner, database: str, tag: str) -> None:
    add(runner, f"rene{tag}", f"rene\u0301{tag}@example.com")
    refused(runner, 4, "user", "add", f"other{tag}", f"REN\u00c9{tag}@example.com")


@pytest.mark.parametrize(
    "name",
    [
        "\u0301",  # a lone combining acute accent
        "\u0301\u0302\u0303",  # only combining marks
        "\u0301abc",  # a mark with no letter to sit on
        "\ufe0f",  # a variation selector alone
        "\u200b",  # zero-width space
        "\u200d\u200c",  # zero-width joiner and non-joiner
        "\u2060",  # word joiner
        "\ufeff",  # byte-order mark
        "\u3164",  # Hangul filler
        "\uffa0",  # half-width Hangul filler
        "\u2800",  # blank Braille pattern
        "bob\u3164",  # reads as "bob"
        "bob\u034f",  # a combining grapheme joiner: reads as "bob"
        " ",
        "\u00a0",
        "\u3000",
        "\t",
    ],
)
def test_a_username_that_draws_nothing_is_invalid(runner: CliRunner, database: str, name: str) -> None:
    refused(runner, 65, "user", "add", "--", name, "someone@example.com")


def test_a_variation_selector_makes_no_new_name(runner: CliRunner, database: str, tag: str) -> None:
    add(runner, f"star\u2b50{tag}", f"star{tag}@example.com")
    refused(runner, 4, "user", "add", f"star\u2b50\ufe0f{tag}", f"other{tag}@example.com")


def test_show_and_delete_find_the_user_as_people_read_the_name(runner: CliRunner, database: str, tag: str) -> None:
    bob = add(runner, f"Bob{tag}", f"bob{tag}@example.com")
    assert invoke(runner, "user", "show", "-o", "json", f"BOB{tag}") == (0, json.dumps(bob) + "\n", "")
    code, stdout, _ = invoke(runner, "user", "delete", "--yes", "-o", "json", f"bob{tag}")
    assert (code, json.loads(stdout)) == (0, bob)
    assert bob not in users(runner)


def test_if_not_exists_matches_as_people_read_the_user(runner: CliRunner, database: str, tag: str) -> None:
    bob = add(runner, f"Bob{tag}", f"bob{tag}@example.com")
    again = invoke(runner, "user", "add", "--if-not-exists", "-o", "json", f"BOB{tag}", f"BOB{tag}@EXAMPLE.COM")
    assert (again[0], json.loads(again[1])) == (0, bob)
    refused(runner, 4, "user", "add", "--if-not-exists", f"bob{tag}", f"new{tag}@example.com")


def import_(runner: CliRunner, rows: list[tuple[str, str]], *options: str) -> tuple[int, str, str]:
    source = "username,email\n" + "".join(f"{name},{email}\n" for name, email in rows)
    result = runner.invoke(cli, ["user", "import", "-", "--format", "csv", *options], input=source.encode())
    return result.exit_code, result.stdout, result.stderr


def test_import_refuses_a_case_variant_of_an_existing_user(runner: CliRunner, database: str, tag: str) -> None:
    add(runner, f"Bob{tag}", f"Bob{tag}@example.com")
    before = users(runner)
    for rows in ([(f"bob{tag}", f"new{tag}@example.com")], [(f"new{tag}", f"BOB{tag}@EXAMPLE.COM")]):
        code, _, stderr = import_(runner, rows)
        assert code == 4, stderr
        assert "is already taken; nothing was imported" in stderr
        assert users(runner) == before


def test_import_skip_leaves_out_a_case_variant(runner: CliRunner, database: str, tag: str) -> None:
    add(runner, f"Bob{tag}", f"bob{tag}@example.com")
    before = users(runner)
    rows = [(f"BOB{tag}", f"elsewhere{tag}@example.com"), (f"x{tag}", f"BOB{tag}@example.com")]
    code, _, stderr = import_(runner, rows, "--on-conflict", "skip")
    assert (code, stderr) == (0, "Imported users: 0 inserted, 0 updated, 2 skipped, 0 invalid.\n")
    assert users(runner) == before


def test_import_update_finds_the_user_by_any_case(runner: CliRunner, database: str, tag: str) -> None:
    bob = add(runner, f"Bob{tag}", f"bob{tag}@example.com")
    add(runner, f"carol{tag}", f"carol{tag}@example.com")
    code, _, stderr = import_(runner, [(f"BOB{tag}", f"New{tag}@example.com")], "--on-conflict", "update")
    assert (code, stderr) == (0, "Imported users: 0 inserted, 1 updated, 0 skipped, 0 invalid.\n")
    assert {**bob, "email": f"New{tag}@example.com"} in users(runner)
    code, _, stderr = import_(runner, [(f"bob{tag}", f"NEW{tag}@EXAMPLE.COM")], "--on-conflict", "update")
    assert (code, stderr) == (0, "Imported users: 0 inserted, 0 updated, 1 skipped, 0 invalid.\n")
    before = users(runner)
    code, _, stderr = import_(runner, [(f"bob{tag}", f"CAROL{tag}@example.com")], "--on-conflict", "update")
    assert code == 4 and f"belongs to user 'carol{tag}'" in stderr, stderr
    assert users(runner) == before


@pytest.mark.parametrize("on_conflict", ["fail", "skip", "update"])
def test_import_refuses_the_same_user_twice_in_its_input(
    runner: CliRunner, database: str, tag: str, on_conflict: str
) -> None:
    before = users(runner)
    rows = [(f"Bob{tag}", f"bob{tag}@example.com"), (f"bob{tag}", f"x{tag}@example.com")]
    code, _, stderr = import_(runner, rows, "--on-conflict", on_conflict)
    assert code == 65 and f"line 3: username 'bob{tag}' is also on line 2" in stderr, stderr
    rows = [(f"a\u0301{tag}", f"a{tag}@example.com"), (f"\u00e1{tag}", f"A{tag}@EXAMPLE.com")]
    code, _, stderr = import_(runner, rows, "--on-conflict", on_conflict)
    assert code == 65 and f"line 3: username '\u00e1{tag}' is also on line 2" in stderr, stderr
    assert users(runner) == before


def test_import_stores_nfc(runner: CliRunner, database: str, tag: str) -> None:
    code, _, stderr = import_(runner, [(f"Jose\u0301{tag}", f"jose\u0301{tag}@example.com")])
    assert code == 0, stderr
    assert {"username": f"Jos\u00e9{tag}", "email": f"jos\u00e9{tag}@example.com"}.items() <= users(runner)[-1].items()


def keyed(username: str, email: str) -> dict[str, str]:
    return {
        "username": unicodedata.normalize("NFC", username),
        "email": unicodedata.normalize("NFC", email),
        "username_key": comparison_key(username),
        "email_key": comparison_key(email),
    }


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("Bob", "bob@example.com"), ("bob", "other@example.com")),
        (("alice", "Alice@Example.com"), ("carol", "alice@example.com")),
        (("Jos\u00e9", "jose@example.com"), ("jose\u0301", "other@example.com")),
    ],
)
def test_the_database_refuses_duplicates_written_below_the_service(
    database: str, tag: str, first: tuple[str, str], second: tuple[str, str]
) -> None:
    db.session.execute(insert(User).values(keyed(first[0] + tag, first[1] + tag)))
    db.session.commit()
    with pytest.raises(IntegrityError):
        db.session.execute(insert(User).values(keyed(second[0] + tag, second[1] + tag)))
        db.session.commit()
    db.session.rollback()
    with pytest.raises(IntegrityError):  # a writer that knows nothing of the keys
        db.session.execute(text("INSERT INTO users (username, email) VALUES ('keyless', 'keyless@example.com')"))
        db.session.commit()
    db.session.rollback()
