"""``user update``, ``set-password``, ``check-password``, ``activate`` and ``deactivate``, end to end.

Through Click's runner, on SQLite and on PostgreSQL; a refused input leaves the database as it was.
The installed appctl's exit codes and streams are tested in test_exit_codes.py and test_password_secrecy.py.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import invoke_appctl

PASSWORD = "correct horse battery staple"


@pytest.fixture
def migrated_env(database_env: dict[str, str]) -> dict[str, str]:
    """``database_env`` (SQLite or PostgreSQL), migrated to head."""
    upgraded = invoke_appctl("db", "upgrade", env=database_env)
    assert upgraded.returncode == 0, upgraded.stderr
    return database_env


@pytest.fixture
def tag() -> str:
    """A name part of this test's own: the PostgreSQL schema is shared by the session's tests."""
    return uuid.uuid4().hex[:8]


def appctl(env: dict[str, str], *args: str, input: str | None = None) -> tuple[int, str, str]:
    done = invoke_appctl(*args, env=env, input=input)
    return done.returncode, done.stdout, done.stderr


def add(env: dict[str, str], name: str) -> dict[str, Any]:
    code, out, err = appctl(env, "user", "add", name, f"{name}@example.com", "-o", "json")
    assert code == 0, err
    user: dict[str, Any] = json.loads(out)
    return user


def everything(env: dict[str, str]) -> list[dict[str, Any]]:
    """Every user as stored, password hashes included: what a refused command must leave as it was."""
    code, out, err = appctl(env, "user", "export", "--with-password-hashes", "-o", "json")
    assert code == 0, err
    users: list[dict[str, Any]] = json.loads(out)
    return users


def test_update_renames_and_changes_the_email_with_add_s_rules(migrated_env: dict[str, str], tag: str) -> None:
    env = migrated_env
    bob, carol = add(env, f"bob{tag}"), add(env, f"carol{tag}")
    code, out, err = appctl(env, "user", "update", f"bob{tag}", "--username", f"Bob{tag}", "-o", "json")
    assert (code, json.loads(out), err) == (0, {**bob, "username": f"Bob{tag}"}, "")  # same key, same user
    code, out, err = appctl(env, "user", "update", str(bob["id"]), "--email", f"NEW{tag}@example.com")
    assert (code, out, err) == (0, f"{bob['id']}\tBob{tag}\tNEW{tag}@example.com\ttrue\n", "")
    code, out, err = appctl(env, "user", "update", f"BOB{tag}", "--username", f"b{tag}", "--email", f"b{tag}@x.org")
    assert (code, out.split("\t")[1:3]) == (0, [f"b{tag}", f"b{tag}@x.org"])
    before = everything(env)
    refused = [
        (("--username", f"CAROL{tag}"), 4, f"Error: username 'CAROL{tag}' is already taken (as 'carol{tag}')\n"),
        (("--email", carol["email"]), 4, f"Error: email '{carol['email']}' is already taken\n"),
        (("--email", "not-an-email"), 65, "Error: email 'not-an-email' is not valid: "),
        (("--username", "12345"), 65, "Error: username '12345' is all digits, which reads as a user id\n"),
        (("--username", "a" * 129), 65, "Error: username is 129 characters long; the limit is 128\n"),
        ((), 2, "Error: nothing to update: give --username, --email or both"),
    ]
    for options, status, message in refused:
        code, out, err = appctl(env, "user", "update", f"b{tag}", *options)
        assert (code, out) == (status, ""), (options, err)
        assert err.startswith(message), (options, err)
    code, out, err = appctl(env, "user", "update", f"nobody{tag}", "--email", f"n{tag}@example.com")
    assert (code, out, err) == (3, "", f"Error: no user 'nobody{tag}' (hint: `appctl user list` shows who exists)\n")
    assert everything(env) == before


def test_set_and_check_a_password(migrated_env: dict[str, str], tag: str) -> None:
    env, name = migrated_env, f"pat{tag}"
    add(env, name)
    add(env, f"nopass{tag}")
    assert appctl(env, "user", "set-password", name, "--password-stdin", input=PASSWORD + "\n") == (
        0,
        "",
        f"Set the password of user {name}.\n",
    )
    check = ("user", "check-password", name, "--password-stdin")
    assert appctl(env, *check, input=PASSWORD + "\n") == (0, "", f"The password of user {name} matches.\n")
    assert appctl(env, *check, input=PASSWORD) == (0, "", f"The password of user {name} matches.\n")  # no newline
    assert appctl(env, *check, input=PASSWORD + " \n") == (
        1,
        "",
        f"Error: the password of user '{name}' does not match\n",
    )  # only the newline is removed
    assert appctl(env, *check, input=PASSWORD.upper() + "\n")[0] == 1
    assert appctl(env, *check, input="")[0] == 1
    code, out, err = appctl(env, "user", "check-password", f"nopass{tag}", "--password-stdin", input=PASSWORD + "\n")
    assert (code, out, err) == (
        1,
        "",
        f"Error: user 'nopass{tag}' has no password (hint: `appctl user set-password` sets one)\n",
    )
    assert appctl(env, "user", "check-password", f"ghost{tag}", "--password-stdin", input=PASSWORD)[0] == 3
    assert appctl(env, "user", "set-password", f"ghost{tag}", "--password-stdin", input=PASSWORD)[0] == 3

    before = everything(env)
    short = appctl(env, "user", "set-password", name, "--password-stdin", input="elevenchars\n")
    assert short == (
        65,
        "",
        "Error: the password is 11 characters long; the minimum is 12"
        " (hint: APPCTL_MIN_PASSWORD_LENGTH sets the minimum)\n",
    )
    assert appctl(env, "user", "set-password", name, "--password-stdin", input="")[0] == 65
    assert appctl(env, "user", "set-password", name, "--password-stdin", input="x" * 1025)[0] == 65
    assert appctl(env, "user", "set-password", name, "--password-stdin", input="\xff")[0] == 65
    no_terminal = appctl(env, "user", "set-password", name, input=PASSWORD + "\n")
    assert no_terminal[:2] == (2, "")
    assert "stdin is not a terminal; pipe the password in with --password-stdin" in no_terminal[2]
    assert appctl(env, "user", "check-password", name, input=PASSWORD + "\n")[0] == 2
    assert everything(env) == before
    assert appctl(env, *check, input=PASSWORD + "\n")[0] == 0  # the old password still holds

    env["APPCTL_MIN_PASSWORD_LENGTH"] = "4"
    assert appctl(env, "user", "set-password", name, "--password-stdin", input="four\n")[0] == 0
    assert appctl(env, *check, input="four\n")[0] == 0
    env["APPCTL_MIN_PASSWORD_LENGTH"] = "twelve"
    code, _, err = appctl(env, "user", "set-password", name, "--password-stdin", input=PASSWORD)
    assert (code, err) == (
        78,
        "Error: APPCTL_MIN_PASSWORD_LENGTH must be a whole number from 0 to 1024, not 'twelve'\n",
    )
    env["APPCTL_MIN_PASSWORD_LENGTH"] = "1025"  # over the longest password accepted: none would do
    code, _, err = appctl(env, "user", "set-password", name, "--password-stdin", input=PASSWORD)
    assert (code, err) == (78, "Error: APPCTL_MIN_PASSWORD_LENGTH must be a whole number from 0 to 1024, not '1025'\n")
    env["APPCTL_MIN_PASSWORD_LENGTH"] = "4"
    assert appctl(env, *check, input="four\n")[0] == 0  # unchanged


def test_the_stored_hash_is_werkzeug_s_scrypt_with_pinned_parameters(migrated_env: dict[str, str], tag: str) -> None:
    from werkzeug.security import check_password_hash

    add(migrated_env, f"h{tag}")
    assert appctl(migrated_env, "user", "set-password", f"h{tag}", "--password-stdin", input=PASSWORD)[0] == 0
    stored = next(u for u in everything(migrated_env) if u["username"] == f"h{tag}")["password_hash"]
    method, salt, key = stored.split("$")
    assert (method, len(salt), len(key)) == ("scrypt:32768:8:1", 16, 128)
    assert check_password_hash(stored, PASSWORD)


def test_deactivate_activate_and_list_by_state(migrated_env: dict[str, str], tag: str) -> None:
    env = migrated_env
    ann, ben, cat = (add(env, f"{name}{tag}") for name in ("ann", "ben", "cat"))
    assert appctl(env, "user", "set-password", f"ann{tag}", "--password-stdin", input=PASSWORD)[0] == 0
    code, out, err = appctl(env, "user", "deactivate", f"ANN{tag}", str(ben["id"]), "-o", "json")
    assert (code, json.loads(out), err) == (0, [{**ann, "active": False}, {**ben, "active": False}], "")
    listed = ("user", "list", "--search", tag, "-o", "json")
    assert json.loads(appctl(env, *listed, "--inactive")[1]) == [{**ann, "active": False}, {**ben, "active": False}]
    assert json.loads(appctl(env, *listed, "--active")[1]) == [cat]
    assert len(json.loads(appctl(env, *listed)[1])) == 3
    assert json.loads(appctl(env, "user", "show", f"ann{tag}", "-o", "json")[1])["active"] is False
    refused = appctl(env, "user", "check-password", f"ann{tag}", "--password-stdin", input=PASSWORD)
    assert refused == (
        1,
        "",
        f"Error: user 'ann{tag}' is deactivated (hint: `appctl user activate` turns it back on)\n",
    )

    before = everything(env)
    code, out, err = appctl(env, "user", "activate", f"ann{tag}", f"ghost{tag}")
    assert (code, out, err) == (3, "", f"Error: no user 'ghost{tag}' (hint: `appctl user list` shows who exists)\n")
    assert appctl(env, "user", "activate")[0] == 2
    assert everything(env) == before

    code, out, _ = appctl(env, "user", "activate", f"ann{tag}", f"ann{tag}")
    assert (code, out) == (0, f"{ann['id']}\tann{tag}\t{ann['email']}\ttrue\n")
    assert appctl(env, "user", "check-password", f"ann{tag}", "--password-stdin", input=PASSWORD)[0] == 0


def test_import_and_export_carry_active_and_on_request_the_hashes(
    migrated_env: dict[str, str], tag: str, tmp_path: Path
) -> None:
    env = migrated_env
    add(env, f"dee{tag}")
    add(env, f"eve{tag}")
    assert appctl(env, "user", "set-password", f"dee{tag}", "--password-stdin", input=PASSWORD)[0] == 0
    assert appctl(env, "user", "deactivate", f"eve{tag}")[0] == 0
    stored = {u["username"]: u for u in everything(env)}
    plain = appctl(env, "user", "export")[1]
    assert "password" not in plain and "scrypt" not in plain
    assert f'"username": "eve{tag}", "email": "eve{tag}@example.com", "active": false}}' in plain
    csv_out = appctl(env, "user", "export", "-o", "csv")[1]
    assert csv_out.startswith("id,username,email,active\n") and f",eve{tag},eve{tag}@example.com,false\n" in csv_out
    with_hashes = appctl(env, "user", "export", "--with-password-hashes", "-o", "csv")[1]
    assert with_hashes.startswith("id,username,email,active,password_hash\n")
    assert stored[f"dee{tag}"]["password_hash"] in with_hashes
    exported = tmp_path / "users.csv"  # this test's users only: the PostgreSQL schema is the session's
    header, *lines = with_hashes.splitlines(keepends=True)
    exported.write_text(header + "".join(line for line in lines if tag in line))

    # the users come back, active or not, with their passwords
    for name in (f"dee{tag}", f"eve{tag}"):
        assert appctl(env, "user", "delete", name, "--yes")[0] == 0
    code, _, err = appctl(env, "user", "import", str(exported), "--on-conflict", "skip")
    assert code == 0, err
    back = {u["username"]: u for u in everything(env)}
    for name in (f"dee{tag}", f"eve{tag}"):
        assert {k: v for k, v in back[name].items() if k != "id"} == {
            k: v for k, v in stored[name].items() if k != "id"
        }
    assert appctl(env, "user", "check-password", f"dee{tag}", "--password-stdin", input=PASSWORD)[0] == 0

    # an import that does not mention active or password_hash leaves them as they are; new users are active
    rows = "username,email\n" + "".join(
        f"{name},{email}@example.com\n"
        for name, email in ((f"eve{tag}", f"eve2{tag}"), (f"dee{tag}", f"dee{tag}"), (f"fay{tag}", f"fay{tag}"))
    )
    code, _, err = appctl(env, "user", "import", "-", "--on-conflict", "update", input=rows)
    assert (code, err) == (0, "Imported users: 1 inserted, 1 updated, 1 skipped, 0 invalid.\n")
    after = {u["username"]: u for u in everything(env)}
    assert after[f"eve{tag}"] == {**back[f"eve{tag}"], "email": f"eve2{tag}@example.com"}
    assert after[f"dee{tag}"] == back[f"dee{tag}"]
    assert after[f"fay{tag}"]["active"] is True and after[f"fay{tag}"]["password_hash"] is None

    # an import that mentions active changes it; JSON null means "as it is"
    rows = (
        f'{{"username": "eve{tag}", "email": "eve2{tag}@example.com", "active": true}}\n'
        f'{{"username": "dee{tag}", "email": "dee{tag}@example.com", "active": null, "password_hash": null}}\n'
    )
    code, _, err = appctl(env, "user", "import", "-", "--on-conflict", "update", input=rows)
    assert (code, err) == (0, "Imported users: 0 inserted, 1 updated, 1 skipped, 0 invalid.\n")
    assert {u["username"]: u["active"] for u in everything(env)}[f"eve{tag}"] is True

    # a password_hash Werkzeug did not make, or an active that is not a boolean, is exit 65: nothing written
    before = everything(env)
    bad = [
        f"username,email,password_hash\ngus{tag},gus{tag}@example.com,{PASSWORD}\n",
        f"username,email,password_hash\ngus{tag},gus{tag}@example.com,md5$abc$0123456789abcdef0123456789abcdef\n",
        f"username,email,password_hash\ngus{tag},gus{tag}@example.com,scrypt:99999999:8:1$abc${'0' * 128}\n",
        f"username,email,password_hash\ngus{tag},gus{tag}@example.com,scrypt:1048576:8:2$abc${'0' * 128}\n",
        f"username,email,password_hash\ngus{tag},gus{tag}@example.com,pbkdf2:shake_128:1000$abc${'0' * 64}\n",
        f"username,email,password_hash\ngus{tag},gus{tag}@example.com,pbkdf2:sha512:999999999$abc${'0' * 128}\n",
        f"username,email,active\ngus{tag},gus{tag}@example.com,maybe\n",
        f'{{"username": "gus{tag}", "email": "gus{tag}@example.com", "active": "yes"}}\n',
        f'{{"username": "gus{tag}", "email": "gus{tag}@example.com", "password_hash": 5}}\n',
    ]
    for text in bad:
        code, out, err = appctl(env, "user", "import", "-", "--on-conflict", "update", input=text)
        assert (code, out) == (65, ""), (text, err)
        assert PASSWORD not in err
    assert everything(env) == before


def test_downgrading_to_0003_keeps_every_user(migrated_env: dict[str, str], tag: str) -> None:
    env = migrated_env
    for name in ("kim", "lee"):
        add(env, f"{name}{tag}")
    assert appctl(env, "user", "deactivate", f"kim{tag}")[0] == 0
    assert appctl(env, "user", "set-password", f"lee{tag}", "--password-stdin", input=PASSWORD)[0] == 0
    before = [(u["id"], u["username"], u["email"]) for u in everything(env)]
    code, _, err = appctl(env, "db", "downgrade", "0003", "--yes")
    assert code == 0, err
    assert appctl(env, "db", "upgrade")[0] == 0
    after = everything(env)
    assert [(u["id"], u["username"], u["email"]) for u in after] == before
    assert {(u["active"], u["password_hash"]) for u in after} == {(True, None)}
