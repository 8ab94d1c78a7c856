"""project/users/service.py: validation, uniqueness, lookup and streaming lists, on a real SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from project.errors import InvalidInput, NotFound, UserExists
from project.extensions import db
from project.users.models import User
from project.users.service import create_user, delete_user, get_user, list_users


def count_users() -> int:
    return int(db.session.scalar(select(func.count()).select_from(User)) or 0)


def test_create_returns_plain_data(app: Any) -> None:
    assert create_user("alice", "alice@example.com") == {
        "id": 1,
        "username": "alice",
        "email": "alice@example.com",
        "active": True,
    }


@pytest.mark.parametrize(
    "username",
    ["a", "a" * 128, "ünïcødé", "robert');DROP/**/TABLE/**/users;--", "user.name+tag", "0x1"],
)
def test_acceptable_usernames_are_stored_exactly(app: Any, username: str) -> None:
    created = create_user(username, "someone@example.com")
    assert get_user(username) == created


@pytest.mark.parametrize("username", ["", "a" * 129, "has space", "tab\there", "bell\a", "42"])
def test_bad_usernames_are_invalid_and_write_nothing(app: Any, username: str) -> None:
    with pytest.raises(InvalidInput):
        create_user(username, "someone@example.com")
    assert count_users() == 0


@pytest.mark.parametrize(
    "email",
    ["", "plain", "@example.com", "a@", "a b@example.com", "a@b@example.com", "x" * 120 + "@example.com"],
)
def test_bad_emails_are_invalid_and_write_nothing(app: Any, email: str) -> None:
    with pytest.raises(InvalidInput):
        create_user("someone", email)
    assert count_users() == 0


def test_email_syntax_needs_no_network(app: Any) -> None:
    assert create_user("nobody", "nobody@domain-that-does-not-exist.invalid-tld-xyz")["id"] == 1


@pytest.mark.parametrize(
    ("username", "email", "field"),
    [("alice", "other@example.com", "username"), ("bob", "alice@example.com", "email")],
)
def test_taken_username_or_email(app: Any, username: str, email: str, field: str) -> None:
    create_user("alice", "alice@example.com")
    with pytest.raises(UserExists, match=f"^{field} '.*' is already taken$"):
        create_user(username, email)
    assert count_users() == 1
    assert create_user("carol", "carol@example.com")["id"] == 2  # the session is usable after the rollback


def test_if_not_exists(app: Any) -> None:
    first = create_user("alice", "alice@example.com")
    assert create_user("alice", "alice@example.com", if_not_exists=True) == first
    with pytest.raises(UserExists):
        create_user("alice", "new@example.com", if_not_exists=True)


@pytest.fixture
def many(app: Any) -> None:
    for index in range(1, 26):
        create_user(f"user{index:02d}", f"u{index:02d}@{'odd' if index % 2 else 'even'}.example.com")


@pytest.mark.usefixtures("many")
class TestList:
    def test_streams_an_iterator_of_dicts(self) -> None:
        users = list_users()
        assert isinstance(users, Iterator)
        first = next(users)
        assert first == {"id": 1, "username": "user01", "email": "u01@odd.example.com", "active": True}

    def test_limit_offset_sort(self) -> None:
        names = [u["username"] for u in list_users(limit=3, offset=2, sort="-username")]
        assert names == ["user23", "user22", "user21"]

    def test_search_is_case_insensitive_on_both_fields(self) -> None:
        assert len(list(list_users(search="EVEN"))) == 12
        assert [u["id"] for u in list_users(search="USER1")] == list(range(10, 20))

    @pytest.mark.parametrize("text", ["%", "_", "\\"])
    def test_search_wildcards_are_literal(self, text: str) -> None:
        assert list(list_users(search=text)) == []

    def test_unknown_sort_key(self) -> None:
        with pytest.raises(InvalidInput):
            list(list_users(sort="password"))


def test_get_and_delete_by_id_or_username(app: Any) -> None:
    alice = create_user("alice", "alice@example.com")
    bob = create_user("bob", "bob@example.com")
    assert get_user("1") == alice
    assert delete_user("bob") == bob
    assert delete_user("1") == alice
    assert count_users() == 0


@pytest.mark.parametrize("ref", ["nobody", "99", ""])
def test_unknown_users(app: Any, ref: str) -> None:
    with pytest.raises(NotFound):
        get_user(ref)
    with pytest.raises(NotFound):
        delete_user(ref)
