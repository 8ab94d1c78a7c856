"""The core flow on the embedded default, through the CLI, with a real worker thread."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner

from cli import cli


def test_send_and_wait_round_trip(runner: CliRunner, worker: Any) -> None:
    sent = runner.invoke(cli, ["task", "send", "divide", "1", "2"])
    assert sent.exit_code == 0, sent.output
    task_id = sent.stdout.strip()
    waited = runner.invoke(cli, ["result", "wait", task_id, "--timeout", "30"])
    assert waited.exit_code == 0, waited.output
    assert waited.stdout == "0.5\n"


def test_failing_job_exits_1_and_names_the_error(runner: CliRunner, worker: Any) -> None:
    result = runner.invoke(cli, ["task", "send", "divide", "1", "0", "--wait", "--timeout", "30"])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "ZeroDivisionError" in result.stderr


def test_user_add_then_list_json(runner: CliRunner, app: Any) -> None:
    added = runner.invoke(cli, ["user", "add", "alice", "alice@example.com"])
    assert added.exit_code == 0, added.output
    listed = runner.invoke(cli, ["user", "list", "-o", "json"])
    assert json.loads(listed.stdout) == [{"id": 1, "username": "alice", "email": "alice@example.com", "active": True}]
