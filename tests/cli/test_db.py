"""``appctl db upgrade|status|downgrade`` through CliRunner, on a fresh SQLite database."""

from __future__ import annotations

import json

from click.testing import CliRunner

from cli import cli


def invoke(runner: CliRunner, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_upgrade_from_base_then_again(runner: CliRunner, env: dict[str, str]) -> None:
    assert invoke(runner, "db", "upgrade") == (0, "", "Database migrated from base to 0007.\n")
    assert invoke(runner, "db", "upgrade") == (0, "", "Database already at 0007.\n")


def test_upgrade_to_a_named_revision(runner: CliRunner, env: dict[str, str]) -> None:
    assert invoke(runner, "db", "upgrade", "0001") == (0, "", "Database migrated from base to 0001.\n")


def test_upgrade_to_an_unknown_revision_is_not_found(runner: CliRunner, env: dict[str, str]) -> None:
    code, stdout, stderr = invoke(runner, "db", "upgrade", "nope")
    assert (code, stdout) == (3, "")
    assert stderr.startswith("Error: no revision 'nope'")
    assert "appctl db status" in stderr


def test_status_at_head(runner: CliRunner, env: dict[str, str]) -> None:
    invoke(runner, "db", "upgrade")
    assert invoke(runner, "db", "status") == (0, "0007\t0007\t[]\ttrue\n", "")
    code, stdout, _ = invoke(runner, "db", "status", "-o", "json")
    assert (code, json.loads(stdout)) == (0, {"current": "0007", "head": "0007", "pending": [], "at_head": True})


def test_status_with_pending_migrations_is_exit_1(runner: CliRunner, env: dict[str, str]) -> None:
    code, stdout, stderr = invoke(runner, "db", "status")
    assert (code, stdout) == (1, '\t0007\t["0001", "0002", "0003", "0004", "0005", "0006", "0007"]\tfalse\n')
    assert stderr == "Error: 7 migration(s) pending (hint: run `appctl db upgrade`)\n"


def test_downgrade_needs_yes_when_stdin_is_not_a_terminal(runner: CliRunner, env: dict[str, str]) -> None:
    invoke(runner, "db", "upgrade")
    code, stdout, stderr = invoke(runner, "db", "downgrade", "base")
    assert (code, stdout) == (2, "")
    assert "refusing to go on without --yes: stdin is not a terminal" in stderr
    assert invoke(runner, "db", "status")[0] == 0  # still at head


def test_downgrade_with_yes(runner: CliRunner, env: dict[str, str]) -> None:
    invoke(runner, "db", "upgrade")
    assert invoke(runner, "db", "downgrade", "base", "--yes") == (0, "", "Database migrated from 0007 to base.\n")
    assert invoke(runner, "db", "status")[0] == 1
    assert invoke(runner, "db", "downgrade", "base", "-y") == (0, "", "Database already at base.\n")


def test_downgrade_by_a_relative_revision(runner: CliRunner, env: dict[str, str]) -> None:
    """Alembic's ``-2`` (two revisions down) is the revision, not an option, before or after --yes."""
    invoke(runner, "db", "upgrade")
    assert invoke(runner, "db", "downgrade", "-2", "--yes") == (0, "", "Database migrated from 0007 to 0005.\n")
    assert invoke(runner, "db", "downgrade", "-y", "-1") == (0, "", "Database migrated from 0005 to 0004.\n")
    code, stdout, stderr = invoke(runner, "db", "downgrade", "-10", "--yes")  # past the base
    assert (code, stdout) == (65, "")
    assert "-10" in stderr
    code, _, stderr = invoke(runner, "db", "downgrade", "--nope", "--yes")  # a mistyped option stays one
    assert (code, "No such option '--nope'" in stderr) == (2, True)


def test_downgrade_needs_a_revision(runner: CliRunner, env: dict[str, str]) -> None:
    code, stdout, stderr = invoke(runner, "db", "downgrade", "--yes")
    assert (code, stdout) == (2, "")
    assert "Missing argument 'REVISION'" in stderr


def test_commands_on_an_unmigrated_database_say_so(runner: CliRunner, env: dict[str, str]) -> None:
    code, stdout, stderr = invoke(runner, "user", "list")
    assert (code, stdout) == (69, "")
    assert "is not initialised (hint: run `appctl db upgrade`)" in stderr
