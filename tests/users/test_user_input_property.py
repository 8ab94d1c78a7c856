"""Property: for any username and email, `user add` stores them in NFC, or exits 65 or 4 and changes nothing."""

from __future__ import annotations

import json
import unicodedata
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from cli import cli

ANY_CHARACTER = st.characters(exclude_categories=())  # surrogates and NUL included
ANY_TEXT = st.text(ANY_CHARACTER, max_size=140)
NAME_LIKE = st.from_regex(r"[A-Za-z0-9_.+\-éßü]{1,130}", fullmatch=True)
VISIBLE_TEXT = st.text(st.characters(categories=("L", "M", "N", "P", "S")), min_size=1, max_size=130)
DOMAIN = st.sampled_from(["example.com", "EXAMPLE.com", "exämple.org", "xn--exmple-cua.org", "example"])
EMAIL_LIKE = st.builds(lambda local, domain: f"{local}@{domain}", st.text(ANY_CHARACTER, max_size=70), DOMAIN)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def database(request: pytest.FixtureRequest, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    """The property holds on the embedded SQLite database and on PostgreSQL."""
    if request.param == "postgresql":
        monkeypatch.setenv("DATABASE_URL", request.getfixturevalue("pg_url"))
    request.getfixturevalue("app")  # migrated
    return str(request.param)


def users(runner: CliRunner) -> list[Any]:
    listed = runner.invoke(cli, ["user", "list", "-o", "json"])
    assert listed.exit_code == 0, (listed.stderr, listed.exception)
    return json.loads(listed.stdout)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    username=st.one_of(NAME_LIKE, VISIBLE_TEXT, ANY_TEXT),
    email=st.one_of(st.emails(), st.emails(), EMAIL_LIKE, ANY_TEXT),
)
@example(username="e\u0301", email="e\u0301@example.com")  # decomposed é: stored as precomposed é
@example(username="\u00e9", email="\u00e9@example.com")  # precomposed é: the same user, so exit 4
@example(username="\u0301", email="a\u0301@example.com")  # a lone combining mark: exit 65
@example(username="'; DROP TABLE users; --", email="robert@example.com")
@example(username="a\x00b", email="a@example.com")
@example(username="007", email="bond@example.com")
@example(username="-o", email="--help@example.com")
def test_user_add_stores_in_nfc_or_refuses_without_change(
    runner: CliRunner, database: str, username: str, email: str
) -> None:
    before = users(runner)
    added = runner.invoke(cli, ["user", "add", "-o", "json", "--", username, email])
    event(f"exit {added.exit_code}")
    if added.exit_code == 0:
        shown = runner.invoke(cli, ["user", "show", "-o", "json", "--", username])
        assert shown.exit_code == 0, shown.stderr
        record = json.loads(shown.stdout)
        nfc = (unicodedata.normalize("NFC", username), unicodedata.normalize("NFC", email))
        assert (record["username"], record["email"]) == nfc
        assert json.loads(added.stdout) == record
        assert users(runner) == [*before, record]
    else:
        assert added.exit_code in (65, 4), (added.stderr, added.exception)
        assert added.stdout == ""
        assert added.stderr.startswith("Error: ") and added.stderr.count("\n") == 1, added.stderr
        assert users(runner) == before
