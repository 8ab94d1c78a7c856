"""The root command: help for every subcommand, version, start-up imports, errors, completion."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import click
import pytest
from click.testing import CliRunner

from cli import __version__, cli
from tests.conftest import run_appctl

HEAVY_MODULES = ("flask", "flask_sqlalchemy", "flask_migrate", "sqlalchemy", "alembic", "celery", "kombu")


def command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command path below ``group``, loading lazy subcommands as Click would."""
    ctx = click.Context(group)
    paths = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        paths.append((*prefix, name))
        if isinstance(command, click.Group):
            paths.extend(command_paths(command, (*prefix, name)))
    return paths


ALL_COMMANDS = command_paths(cli)


def test_every_command_is_reachable() -> None:
    assert set(ALL_COMMANDS) >= {
        ("db", "upgrade"),
        ("db", "status"),
        ("db", "downgrade"),
        ("user", "add"),
        ("user", "list"),
        ("user", "show"),
        ("user", "delete"),
        ("task", "list"),
        ("task", "send"),
        ("result", "wait"),
    }


@pytest.mark.parametrize("option", ["-h", "--help"])
@pytest.mark.parametrize("path", [(), *ALL_COMMANDS], ids=lambda path: " ".join(path) or "appctl")
def test_help_of_every_command_and_group_needs_no_app(
    runner: CliRunner, env: dict[str, str], monkeypatch: pytest.MonkeyPatch, path: tuple[str, ...], option: str
) -> None:
    monkeypatch.setenv("FLASK_CONFIG", "no-such-config")  # building the app would fail with exit 78
    result = runner.invoke(cli, [*path, option])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Usage: appctl {' '.join(path)}".rstrip() + " ")
    assert result.stderr == ""


def test_root_help_lists_the_groups(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["-h"])
    assert result.exit_code == 0
    for name in ("db", "user", "task", "result", "worker"):
        assert f"\n  {name} " in result.stdout


def test_worker_help_is_celerys(runner: CliRunner, env: dict[str, str]) -> None:
    result = runner.invoke(cli, ["worker", "--help"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Usage: appctl worker [OPTIONS]")
    assert "--concurrency" in result.stdout


def test_version(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"appctl, version {__version__}\n"


def test_no_command_is_a_usage_error(runner: CliRunner) -> None:
    result = runner.invoke(cli, [])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "Usage: appctl" in result.stderr


def test_unknown_command_is_a_usage_error(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["frobnicate"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "No such command 'frobnicate'" in result.stderr


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["user", "--help"], ["task", "send", "--help"]])
def test_help_and_version_import_nothing_heavy(args: list[str]) -> None:
    script = (
        "import sys\n"
        "from cli import cli\n"
        f"try:\n    cli({args!r}, prog_name='appctl')\nexcept SystemExit:\n    pass\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY_MODULES!r}), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "[]"


def test_python_dash_m_cli(env: dict[str, str]) -> None:
    done = subprocess.run([sys.executable, "-m", "cli", "--version"], env=env, capture_output=True, text=True)
    assert (done.returncode, done.stdout, done.stderr) == (0, f"appctl, version {__version__}\n", "")


def test_python_dash_m_cli_runs_commands(env: dict[str, str]) -> None:
    done = subprocess.run([sys.executable, "-m", "cli", "task", "list", "-o", "jsonl"], env=env, capture_output=True)
    assert done.returncode == 0, done.stderr
    assert b'"project.users.tasks.divide"' in done.stdout


def test_shell_completion_script_and_answers(env: dict[str, str]) -> None:
    script = run_appctl(env={**env, "_APPCTL_COMPLETE": "bash_source"})
    assert script.returncode == 0
    assert "_appctl_completion()" in script.stdout
    answers = run_appctl(env={**env, "_APPCTL_COMPLETE": "bash_complete", "COMP_WORDS": "appctl us", "COMP_CWORD": "1"})
    assert answers.stdout.split() == ["plain,user"]
    options = run_appctl(
        env={**env, "_APPCTL_COMPLETE": "bash_complete", "COMP_WORDS": "appctl user list -o ", "COMP_CWORD": "4"}
    )
    assert options.stdout.split() == ["plain,table", "plain,json", "plain,jsonl", "plain,csv", "plain,plain"]


def failing_service(*args: Any, **kwargs: Any) -> None:
    raise RuntimeError("boom at postgresql://u:secret@db/x")


def test_unexpected_error_is_one_line_exit_70(runner: CliRunner, app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("project.users.service.get_user", failing_service)
    result = runner.invoke(cli, ["user", "show", "1"])
    assert result.exit_code == 70
    assert result.stdout == ""
    assert result.stderr == (
        "Error: unexpected RuntimeError: boom at postgresql://u:***@db/x (run with --debug for the traceback)\n"
    )


@pytest.mark.parametrize("how", ["--debug", "APPCTL_DEBUG"])
def test_debug_shows_the_masked_traceback(
    runner: CliRunner, app: Any, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    monkeypatch.setattr("project.users.service.get_user", failing_service)
    if how == "APPCTL_DEBUG":
        monkeypatch.setenv("APPCTL_DEBUG", "1")
    result = runner.invoke(cli, [*(["--debug"] if how == "--debug" else []), "user", "show", "1"])
    assert result.exit_code == 70
    assert "Traceback (most recent call last)" in result.stderr
    assert "secret" not in result.stderr
    assert result.stderr.endswith("Error: unexpected RuntimeError: boom at postgresql://u:***@db/x\n")  # --debug is on


def test_usage_errors_are_one_line_pointing_at_help(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["user", "add", "alice"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == "Error: Missing argument 'EMAIL' (see 'appctl user add --help')\n"


def test_unknown_root_option_is_one_line(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["--bogus"])
    assert result.exit_code == 2
    assert result.stderr == "Error: No such option '--bogus' (see 'appctl --help')\n"
