"""``appctl user add|list|show|delete`` through CliRunner, on a migrated SQLite database."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from cli import cli
from tests.cli.terminal import run_on_terminal

ALICE = {"id": 1, "username": "alice", "email": "alice@example.com", "active": True}


def invoke(runner: CliRunner, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def users(runner: CliRunner) -> list[dict[str, Any]]:
    result = runner.invoke(cli, ["user", "list", "-o", "json"])
    assert result.exit_code == 0, result.output
    listed: list[dict[str, Any]] = json.loads(result.stdout)
    return listed


@pytest.fixture
def three_users(runner: CliRunner, app: Any) -> None:
    for name, email in [("carol", "carol@example.org"), ("alice", "alice@example.com"), ("bob", "BOB@example.net")]:
        assert invoke(runner, "user", "add", name, email)[0] == 0


def test_add_prints_the_new_user(runner: CliRunner, app: Any) -> None:
    assert invoke(runner, "user", "add", "alice", "alice@example.com") == (0, "1\talice\talice@example.com\ttrue\n", "")
    assert users(runner) == [ALICE]


def test_add_as_json(runner: CliRunner, app: Any) -> None:
    code, stdout, _ = invoke(runner, "user", "add", "alice", "alice@example.com", "-o", "json")
    assert (code, json.loads(stdout)) == (0, ALICE)


@pytest.mark.parametrize(
    ("username", "email", "message"),
    [
        ("alice", "other@example.com", "Error: username 'alice' is already taken\n"),
        ("other", "alice@example.com", "Error: email 'alice@example.com' is already taken\n"),
    ],
)
def test_add_taken_username_or_email_is_exit_4(
    runner: CliRunner, app: Any, username: str, email: str, message: str
) -> None:
    invoke(runner, "user", "add", "alice", "alice@example.com")
    assert invoke(runner, "user", "add", username, email) == (4, "", message)
    assert users(runner) == [ALICE]


def test_add_if_not_exists_returns_the_same_user(runner: CliRunner, app: Any) -> None:
    invoke(runner, "user", "add", "alice", "alice@example.com")
    args = ("user", "add", "alice", "alice@example.com", "--if-not-exists")
    assert invoke(runner, *args) == (0, "1\talice\talice@example.com\ttrue\n", "")
    assert invoke(runner, "user", "add", "alice", "new@example.com", "--if-not-exists")[0] == 4
    assert users(runner) == [ALICE]


@pytest.mark.parametrize(
    ("username", "email", "message"),
    [
        ("alice", "not-an-email", "Error: email 'not-an-email' is not valid: "),
        ("a" * 200, "long@example.com", "Error: username is 200 characters long; the limit is 128\n"),
        ("alice", "a" * 120 + "@example.com", "Error: email is 132 characters long; the limit is 128\n"),
        ("", "empty@example.com", "Error: username must not be empty\n"),
        ("two words", "w@example.com", "Error: username 'two words' contains spaces or control characters\n"),
        ("1234", "digits@example.com", "Error: username '1234' is all digits, which reads as a user id\n"),
    ],
)
def test_add_invalid_input_is_exit_65_and_writes_nothing(
    runner: CliRunner, app: Any, username: str, email: str, message: str
) -> None:
    code, stdout, stderr = invoke(runner, "user", "add", username, email)
    assert (code, stdout) == (65, "")
    assert stderr.startswith(message)
    assert len(stderr.splitlines()) == 1
    assert users(runner) == []


def test_add_needs_both_arguments(runner: CliRunner, app: Any) -> None:
    code, stdout, stderr = invoke(runner, "user", "add", "alice")
    assert (code, stdout) == (2, "")
    assert "Missing argument 'EMAIL'" in stderr


@pytest.mark.usefixtures("three_users")
class TestList:
    def test_plain_by_id(self, runner: CliRunner) -> None:
        expected = (
            "1\tcarol\tcarol@example.org\ttrue\n2\talice\talice@example.com\ttrue\n3\tbob\tBOB@example.net\ttrue\n"
        )
        assert invoke(runner, "user", "list") == (0, expected, "")

    def test_json(self, runner: CliRunner) -> None:
        assert users(runner)[0] == {"id": 1, "username": "carol", "email": "carol@example.org", "active": True}

    def test_jsonl(self, runner: CliRunner) -> None:
        code, stdout, _ = invoke(runner, "user", "list", "-o", "jsonl", "--limit", "2")
        assert code == 0
        assert [json.loads(line)["username"] for line in stdout.splitlines()] == ["carol", "alice"]

    def test_csv(self, runner: CliRunner) -> None:
        code, stdout, _ = invoke(runner, "user", "list", "--output", "csv", "--sort", "username")
        expected = (
            "id,username,email,active\n"
            "2,alice,alice@example.com,true\n3,bob,BOB@example.net,true\n1,carol,carol@example.org,true\n"
        )
        assert (code, stdout) == (0, expected)

    def test_table_when_asked_even_when_piped(self, runner: CliRunner) -> None:
        code, stdout, _ = invoke(runner, "user", "list", "-o", "table")
        assert code == 0
        assert "┃ id ┃ username ┃ email" in stdout
        assert "\x1b[" not in stdout

    @pytest.mark.parametrize(
        ("sort", "order"),
        [
            ("id", ["carol", "alice", "bob"]),
            ("-id", ["bob", "alice", "carol"]),
            ("username", ["alice", "bob", "carol"]),
            ("-username", ["carol", "bob", "alice"]),
            ("email", ["bob", "alice", "carol"]),  # the database's own collation: "BOB" sorts first
        ],
    )
    def test_sort(self, runner: CliRunner, sort: str, order: list[str]) -> None:
        code, stdout, _ = invoke(runner, "user", "list", "--sort", sort, "-o", "jsonl")
        assert (code, [json.loads(line)["username"] for line in stdout.splitlines()]) == (0, order)

    def test_limit_and_offset(self, runner: CliRunner) -> None:
        second = (0, "2\talice\talice@example.com\ttrue\n", "")
        assert invoke(runner, "user", "list", "--limit", "1", "--offset", "1") == second
        assert invoke(runner, "user", "list", "--offset", "3") == (0, "", "")
        assert invoke(runner, "user", "list", "--limit", "0") == (0, "", "")

    def test_search_matches_username_or_email_in_any_case(self, runner: CliRunner) -> None:
        assert invoke(runner, "user", "list", "--search", "ALI") == (0, "2\talice\talice@example.com\ttrue\n", "")
        assert invoke(runner, "user", "list", "--search", "example.net") == (0, "3\tbob\tBOB@example.net\ttrue\n", "")
        assert invoke(runner, "user", "list", "--search", "%") == (0, "", "")  # literal, not a wildcard

    def test_bad_sort_is_a_usage_error(self, runner: CliRunner) -> None:
        code, stdout, stderr = invoke(runner, "user", "list", "--sort", "password")
        assert (code, stdout) == (2, "")
        assert stderr == (
            "Error: Invalid value for '--sort': 'password' is not one of 'id', '-id', 'username', '-username', "
            "'email', '-email' (see 'appctl user list --help')\n"
        )

    @pytest.mark.parametrize("option", [["--limit", "-1"], ["--offset", "x"], ["-o", "yaml"]])
    def test_bad_option_values_are_usage_errors(self, runner: CliRunner, option: list[str]) -> None:
        code, stdout, stderr = invoke(runner, "user", "list", *option)
        assert (code, stdout) == (2, "")
        assert f"Invalid value for '{option[0]}'" in stderr


def test_list_ids_only(runner: CliRunner, three_users: None) -> None:
    assert invoke(runner, "user", "list", "-q") == (0, "1\n2\n3\n", "")
    assert invoke(runner, "user", "list", "--ids", "--sort", "username", "--search", "example.com") == (0, "2\n", "")
    code, stdout, stderr = invoke(runner, "user", "list", "-q", "-o", "plain")
    assert (code, stdout) == (2, "")
    assert stderr.startswith("Error: -q/--ids prints only ids, one a line: it takes no -o/--output")


def test_list_of_no_users(runner: CliRunner, app: Any) -> None:
    assert invoke(runner, "user", "list") == (0, "", "")
    assert invoke(runner, "user", "list", "-o", "json") == (0, "[\n]\n", "")
    assert invoke(runner, "user", "list", "-o", "csv") == (0, "id,username,email,active\n", "")


@pytest.mark.parametrize("ref", ["1", "alice"])
def test_show_by_id_or_username(runner: CliRunner, app: Any, ref: str) -> None:
    invoke(runner, "user", "add", "alice", "alice@example.com")
    assert invoke(runner, "user", "show", ref) == (0, "1\talice\talice@example.com\ttrue\n", "")
    code, stdout, _ = invoke(runner, "user", "show", ref, "-o", "json")
    assert (code, json.loads(stdout)) == (0, ALICE)


@pytest.mark.parametrize("command", ["show", "delete"])
def test_show_or_delete_of_an_unknown_user_is_exit_3(runner: CliRunner, app: Any, command: str) -> None:
    extra = ["--yes"] if command == "delete" else []
    code, stdout, stderr = invoke(runner, "user", command, "nobody", *extra)
    assert (code, stdout) == (3, "")
    assert stderr == "Error: no user 'nobody' (hint: `appctl user list` shows who exists)\n"


@pytest.mark.parametrize("ref", ["1", "alice"])
def test_delete_with_yes(runner: CliRunner, app: Any, ref: str) -> None:
    invoke(runner, "user", "add", "alice", "alice@example.com")
    expected = (0, "1\talice\talice@example.com\ttrue\n", "Deleted user alice (id 1).\n")
    assert invoke(runner, "user", "delete", ref, "--yes") == expected
    assert users(runner) == []


def test_delete_needs_yes_when_stdin_is_not_a_terminal(runner: CliRunner, app: Any) -> None:
    invoke(runner, "user", "add", "alice", "alice@example.com")
    code, stdout, stderr = invoke(runner, "user", "delete", "alice")
    assert (code, stdout) == (2, "")
    assert "refusing to go on without --yes" in stderr
    assert users(runner) == [ALICE]


@pytest.mark.parametrize(("answer", "code", "left"), [("y\n", 0, []), ("n\n", 1, [ALICE])])
def test_delete_asks_on_a_terminal(
    runner: CliRunner, app: Any, env: dict[str, str], answer: str, code: int, left: list[dict[str, Any]]
) -> None:
    invoke(runner, "user", "add", "alice", "alice@example.com")
    done = run_on_terminal("user", "delete", "alice", env=env, typed=answer)
    assert done.returncode == code
    assert "Delete user alice? [y/N]" in done.stderr
    assert users(runner) == left
