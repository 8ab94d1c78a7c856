"""user import: every row checked first, one transaction, conflicts as asked; on SQLite and PostgreSQL."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from project.errors import InvalidInput, UserExists
from project.users.importer import import_users
from project.users.rows import detect_format, read_rows
from project.users.service import create_user, list_users, plainly_valid_email


def rows(text: str, fmt: str = "csv") -> Any:
    return read_rows(io.BytesIO(text.encode()), fmt)


def users() -> list[tuple[str, str]]:
    return [(u["username"], u["email"]) for u in list_users()]


def counts(summary: dict[str, Any]) -> tuple[int, int, int, int]:
    return summary["inserted"], summary["updated"], summary["skipped"], summary["invalid"]


CSV = "username,email\nann,ann@example.com\nbob,bob@example.com\n"
JSONL = '{"id": 7, "username": "ann", "email": "ann@example.com"}\n\n{"username": "bob", "email": "bob@example.com"}\n'


@pytest.mark.parametrize(("text", "fmt"), [(CSV, "csv"), (JSONL, "jsonl")])
def test_imports_csv_and_jsonl(app: Any, text: str, fmt: str) -> None:
    assert counts(import_users(rows(text, fmt))) == (2, 0, 0, 0)
    assert users() == [("ann", "ann@example.com"), ("bob", "bob@example.com")]


@pytest.mark.parametrize(
    "text",
    [
        "\ufeffusername,email\r\nann,ann@example.com\r\n",  # a BOM and CRLF, as spreadsheets write them
        "id,username,email\n99,ann,ann@example.com\n",  # user export's columns: the id is ignored
        "email,username\nann@example.com,ann\n",
        'username,email\n"ann","ann@example.com"\n',
    ],
)
def test_csv_variants(app: Any, text: str) -> None:
    import_users(rows(text))
    assert users() == [("ann", "ann@example.com")]


@pytest.mark.parametrize("header", ["user,email", "username", "username,email,age", "username,email,email", ""])
def test_a_bad_header_is_invalid(app: Any, header: str) -> None:
    with pytest.raises(InvalidInput, match=r"^line 1: the CSV header must name the columns username and email"):
        import_users(rows(f"{header}\nann,ann@example.com,3\n"))
    assert users() == []


def test_every_invalid_row_is_reported_and_nothing_is_written(app: Any) -> None:
    text = (
        "username,email\nann,ann@example.com\nbob,not-an-email\n12,twelve@example.com\n"
        "ann,ann2@example.com\ncy,ann@example.com\ndee\nemma,emma@example.com\n"
    )
    with pytest.raises(InvalidInput) as caught:
        import_users(rows(text))
    assert caught.value.message.startswith(
        "5 of 7 rows are invalid, nothing was imported: line 3: email 'not-an-email'"
    )
    for expected in (
        "line 4: username '12' is all digits",
        "line 5: username 'ann' is also on line 2",
        "line 6: email 'ann@example.com' is also on line 2",
        "line 7: has 1 fields, the header has 2",
    ):
        assert expected in caught.value.message
    assert users() == []


def test_many_invalid_rows_show_the_first_five(app: Any) -> None:
    text = "username,email\n" + "".join(f"u{i},bad{i}\n" for i in range(9))
    with pytest.raises(InvalidInput, match=r"^9 of 9 rows are invalid.*line 6: .*; and 4 more$"):
        import_users(rows(text))


@pytest.mark.parametrize(
    "line",
    [
        "not json",
        '["ann", "ann@example.com"]',
        '{"username": "ann"}',
        '{"username": "ann", "email": 5}',
        '{"username": "a", "email": "a@b.org", "x": 1}',
    ],
)
def test_bad_jsonl_lines_are_invalid(app: Any, line: str) -> None:
    with pytest.raises(InvalidInput, match=r"^1 of 2 rows are invalid, nothing was imported: line 2: "):
        import_users(rows(f'{{"username": "ok", "email": "ok@example.com"}}\n{line}\n', "jsonl"))
    assert users() == []


def test_skip_invalid_imports_the_rest(app: Any) -> None:
    summary = import_users(rows("username,email\nann,ann@example.com\nbob,nope\n"), skip_invalid=True)
    assert counts(summary) == (1, 0, 0, 1)
    assert summary["errors"][0].startswith("line 3: email 'nope' is not valid")
    assert users() == [("ann", "ann@example.com")]


@pytest.fixture
def existing(app: Any) -> None:
    create_user("ann", "ann@example.com")
    create_user("bob", "bob@example.com")


INCOMING = "username,email\nann,ann@example.com\nbob,bob@new.example.com\ncy,cy@example.com\n"


@pytest.mark.usefixtures("existing")
def test_a_conflict_fails_the_whole_import_by_default(app: Any) -> None:
    with pytest.raises(UserExists, match=r"^line 2: username 'ann' is already taken; nothing was imported$"):
        import_users(rows(INCOMING))
    assert users() == [("ann", "ann@example.com"), ("bob", "bob@example.com")]


@pytest.mark.usefixtures("existing")
def test_skip_leaves_taken_rows_out(app: Any) -> None:
    assert counts(import_users(rows(INCOMING), on_conflict="skip")) == (1, 0, 2, 0)
    assert users()[-1] == ("cy", "cy@example.com")
    assert ("bob", "bob@example.com") in users()


@pytest.mark.usefixtures("existing")
def test_update_changes_emails(app: Any) -> None:
    assert counts(import_users(rows(INCOMING), on_conflict="update")) == (1, 1, 1, 0)
    assert users() == [("ann", "ann@example.com"), ("bob", "bob@new.example.com"), ("cy", "cy@example.com")]


@pytest.mark.usefixtures("existing")
@pytest.mark.parametrize("row", ["ann,bob@example.com", "dan,bob@example.com"])
def test_update_never_takes_another_users_email(app: Any, row: str) -> None:
    with pytest.raises(UserExists, match=r"^line 2: email 'bob@example.com' belongs to user 'bob'"):
        import_users(rows(f"username,email\n{row}\n"), on_conflict="update")
    assert users() == [("ann", "ann@example.com"), ("bob", "bob@example.com")]


@pytest.mark.usefixtures("existing")
@pytest.mark.parametrize(("mode", "expected"), [("skip", (1, 0, 2, 0)), ("update", (1, 1, 1, 0))])
def test_dry_run_counts_and_writes_nothing(app: Any, mode: str, expected: tuple[int, ...]) -> None:
    summary = import_users(rows(INCOMING), on_conflict=mode, dry_run=True)
    assert summary["dry_run"] and counts(summary) == expected
    assert users() == [("ann", "ann@example.com"), ("bob", "bob@example.com")]


def test_export_shapes_round_trip(app: Any) -> None:
    import_users(rows(CSV))
    exported = "".join(
        f'{{"id": {u["id"]}, "username": "{u["username"]}", "email": "{u["email"]}"}}\n' for u in list_users()
    )
    assert counts(import_users(rows(exported, "jsonl"), on_conflict="skip")) == (0, 0, 2, 0)


@pytest.mark.parametrize(
    ("name", "start", "fmt"),
    [
        ("u.csv", b"{", "csv"),
        ("u.jsonl", b"a", "jsonl"),
        ("-", b'  {"username"', "jsonl"),
        ("<stdin>", b"username", "csv"),
    ],
)
def test_detect_format(name: str, start: bytes, fmt: str) -> None:
    assert detect_format(io.BufferedReader(io.BytesIO(start)), name) == fmt  # type: ignore[arg-type]


@given(st.from_regex(r"[a-zA-Z0-9._+\-]{1,12}@[a-zA-Z0-9.\-]{1,20}", fullmatch=True))
def test_plain_emails_are_ones_email_validator_accepts(email: str) -> None:
    from email_validator import EmailNotValidError, validate_email

    if plainly_valid_email(email):
        try:
            validate_email(email, check_deliverability=False)
        except EmailNotValidError as exc:
            pytest.fail(f"{email!r} passed the fast check but email_validator says: {exc}")


def test_the_fast_check_refuses_the_domains_email_validator_refuses() -> None:
    import email_validator

    from project.users.service import SPECIAL_USE_DOMAINS

    assert sorted(SPECIAL_USE_DOMAINS) == sorted(email_validator.SPECIAL_USE_DOMAIN_NAMES)
    assert not plainly_valid_email("ann@example.test") and not plainly_valid_email("ann@mail.local")


@pytest.fixture
def pg_app(env: dict[str, str], pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The app on PostgreSQL, with no users."""
    from sqlalchemy import text

    from project import create_app
    from project.extensions import db
    from project.migrations import upgrade_database

    monkeypatch.setenv("DATABASE_URL", pg_url)
    flask_app = create_app("testing")
    with flask_app.app_context():
        upgrade_database()
        db.session.execute(text("DELETE FROM users"))
        db.session.commit()
        yield flask_app


@pytest.mark.services
def test_upserts_on_postgresql(pg_app: Any) -> None:
    create_user("ann", "ann@example.com")
    create_user("bob", "bob@example.com")
    assert counts(import_users(rows(INCOMING), on_conflict="skip")) == (1, 0, 2, 0)
    more = INCOMING.replace("cy,", "dee,").replace("cy@", "dee@")
    assert counts(import_users(rows(more), on_conflict="update")) == (1, 1, 1, 0)
    assert ("bob", "bob@new.example.com") in users() and len(users()) == 4
    with pytest.raises(UserExists):
        import_users(rows("username,email\neve,eve@example.com\nann,x@example.com\n"))
    assert len(users()) == 4


class Endless(io.RawIOBase):
    """A stream of NUL bytes that never ends, as /dev/zero."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        buffer[:] = bytes(len(buffer))
        return len(buffer)


@pytest.mark.parametrize(("fmt", "message"), [("csv", "line 1 is longer"), ("jsonl", "line 1 is longer")])
def test_an_endless_line_is_invalid_input_not_read_whole(fmt: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        list(read_rows(io.BufferedReader(Endless()), fmt))


def test_an_endless_json_array_is_invalid_input(monkeypatch: pytest.MonkeyPatch) -> None:
    from project.users import rows as user_rows

    monkeypatch.setattr(user_rows, "MAX_DOCUMENT", 1 << 16)
    with pytest.raises(InvalidInput, match="the JSON array is longer than 65536 characters"):
        list(read_rows(io.BufferedReader(Endless()), "json"))


def test_new_users_get_their_ids_in_file_order_whatever_columns_they_give(app: Any) -> None:
    """As `user export --with-password-hashes` writes them: some hashes null, some not, some active false."""
    from werkzeug.security import generate_password_hash

    made = generate_password_hash("a-long-password", method="pbkdf2:sha256:1000")
    lines = [
        '{"username": "u1", "email": "u1@example.com", "password_hash": null}',
        f'{{"username": "u2", "email": "u2@example.com", "password_hash": "{made}"}}',
        '{"username": "u3", "email": "u3@example.com", "active": false}',
        f'{{"username": "u4", "email": "u4@example.com", "password_hash": "{made}", "active": true}}',
        '{"username": "u5", "email": "u5@example.com"}',
    ]
    import_users(rows("\n".join(lines) + "\n", "jsonl"))
    listed = list(list_users(with_password_hashes=True))
    assert [user["username"] for user in listed] == ["u1", "u2", "u3", "u4", "u5"]  # listed by id
    assert [user["active"] for user in listed] == [True, True, False, True, True]
    assert [user["password_hash"] == made for user in listed] == [False, True, False, True, False]


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def test_users_another_writer_adds_meanwhile_count_as_updated_or_skipped(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, database: str
) -> None:
    """Between the import's read and its write another import adds ann as the file has her and bob with
    another email: ann is skipped, bob updated, cy inserted (an upsert's own count called all three new)."""
    request.getfixturevalue("app" if database == "sqlite" else "pg_app")
    import project.users.importer as importer

    real_write = importer.write_users

    def another_writer_first(*args: Any) -> tuple[int, int]:
        create_user("ann", "ann@example.com")
        create_user("bob", "bob@old.example.com")
        return real_write(*args)

    monkeypatch.setattr(importer, "write_users", another_writer_first)
    text = "username,email\nann,ann@example.com\nbob,bob@example.com\ncy,cy@example.com\n"
    assert counts(import_users(rows(text), on_conflict="update")) == (1, 1, 1, 0)
    assert sorted(users()) == [("ann", "ann@example.com"), ("bob", "bob@example.com"), ("cy", "cy@example.com")]
