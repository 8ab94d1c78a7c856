"""``appctl worker`` as a real process: Celery's own options pass through, and it runs the app's jobs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from click.testing import CliRunner

from cli import cli
from tests.conftest import APPCTL, worker_process


def test_worker_passes_celery_options_through_and_runs_jobs(
    runner: CliRunner, app: Any, env: dict[str, str], tmp_path: Path
) -> None:
    options = ["--loglevel=info", "--hostname", "passthrough@%h", "-P", "solo", "-Q", "special", "--without-mingle"]
    with worker_process([APPCTL, "worker", *options], env, tmp_path / "worker.log") as worker:
        banner = worker.log()
        assert "passthrough@" in banner
        assert "(solo)" in banner
        assert ".> special " in banner
        assert "project.users.tasks.divide" in banner
        sent = runner.invoke(
            cli, ["task", "send", "divide", "3", "4", "--queue", "special", "--wait", "--timeout", "30"]
        )
        assert (sent.exit_code, sent.stdout) == (0, "0.75\n")
    assert worker.process.returncode is not None
    assert "Traceback" not in worker.log()


def test_worker_with_an_unknown_option_is_a_usage_error(runner: CliRunner, env: dict[str, str]) -> None:
    result = runner.invoke(cli, ["worker", "--no-such-option"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "No such option" in result.stderr
