"""The README is the manual: it must keep up with the exit codes, commands and settings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cli.exit_codes import ExitStatus

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_quick_start_is_the_two_commands_first() -> None:
    first_block = README.split("```sh\n", 1)[1].split("```", 1)[0]
    assert [line.split()[:2] for line in first_block.splitlines()] == [["make", "run"], ["make", "test"]]
    assert README.index("## Quick start") < README.index("## Commands")


def test_every_exit_code_has_a_row() -> None:
    table = README.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    rows = {int(code) for code in re.findall(r"^\| (\d+) \|", table, flags=re.MULTILINE)}
    assert rows == {int(status) for status in ExitStatus}


@pytest.mark.parametrize(
    "command",
    [
        "db upgrade",
        "db status",
        "db downgrade",
        "user add",
        "user list",
        "user show",
        "user delete",
        "user import",
        "user export",
        "user update",
        "user set-password",
        "user check-password",
        "user activate",
        "user deactivate",
        "task list",
        "task send",
        "result wait",
        "worker",
        "task history",
        "task status",
        "task revoke",
        "task prune",
        "status",
    ],
)
def test_every_core_command_has_a_section(command: str) -> None:
    headings = [line.replace("`", "").replace("appctl ", "") for line in README.splitlines() if line.startswith("### ")]
    assert any(f" {command}" in heading for heading in headings)


@pytest.mark.parametrize(
    "variable",
    [
        "FLASK_CONFIG",
        "DATABASE_URL",
        "CELERY_BROKER_URL",
        "CELERY_RESULT_BACKEND",
        "APPCTL_DATA_DIR",
        "APPCTL_DIVIDE_DELAY",
        "APPCTL_QUEUE",
        "APPCTL_WAIT_TIMEOUT",
        "APPCTL_HEARTBEAT_INTERVAL",
        "APPCTL_CONNECT_TIMEOUT",
        "APPCTL_SOCKET_TIMEOUT",
        "APPCTL_PUBLISH_RETRIES",
        "CELERY_VISIBILITY_TIMEOUT",
        "APPCTL_RESTORE_INTERVAL",
        "APPCTL_SQLITE_BUSY_TIMEOUT",
        "APPCTL_MIN_PASSWORD_LENGTH",
        "APPCTL_DEBUG",
        "NO_COLOR",
    ],
)
def test_every_setting_is_in_the_configuration_table(variable: str) -> None:
    table = README.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    assert f"| `{variable}` |" in table


def test_failure_behaviour_lists_the_bounds_and_at_least_once_delivery() -> None:
    section = README.split("## Failure behaviour", 1)[1].split("\n## ", 1)[0]
    for promise in (
        "within 5 s",
        "within 15 s",
        "at-least-once",
        "may run more than once",
        "CELERY_VISIBILITY_TIMEOUT",
    ):
        assert promise in section
