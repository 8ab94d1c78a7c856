"""``appctl worker`` as a real process: Celery's own options pass through, and it runs the app's jobs."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli import cli
from tests.conftest import APPCTL, run_appctl
from tests.processes import worker_process


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


def stop_detached(pidfile: Path) -> None:
    """SIGTERM the detached worker named in ``pidfile``; SIGKILL its process group if it is still there after 60 s."""
    pid = int(pidfile.read_text())
    with suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    with suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)  # a detached worker leads its own session and process group


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a process that has not ended (a zombie counts as ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("global_options", [[], ["--debug", "--no-color"]], ids=["plain", "global-options"])
def test_a_detached_worker_runs_the_apps_jobs(
    app: Any, env: dict[str, str], tmp_path: Path, global_options: list[str]
) -> None:
    pidfile, logfile = tmp_path / "worker.pid", tmp_path / "worker.log"
    detach = [*global_options, "worker", "--detach", "--pidfile", str(pidfile), "--logfile", str(logfile)]
    started = run_appctl(*detach, "-l", "info", "-c", "1", "--without-mingle", env=env)
    assert (started.returncode, started.stdout) == (0, ""), started.stderr
    try:
        sent = run_appctl("task", "send", "divide", "3", "4", "--wait", "--timeout", "120", env=env, timeout=180)
        assert (sent.returncode, sent.stdout) == (0, "0.75\n"), (sent.stderr, logfile.read_text(errors="replace"))
        log = logfile.read_text(errors="replace")
        assert "project.users.tasks.divide" in log
        assert "NotRegistered" not in log
    finally:
        deadline = time.monotonic() + 60
        while not pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        if pidfile.exists():  # else the worker died on start, and the assertion above says why
            stop_detached(pidfile)


@pytest.mark.parametrize("pool", ["gevent", "eventlet"])
def test_a_pool_whose_package_is_missing_is_a_config_error_with_a_hint(env: dict[str, str], pool: str) -> None:
    if importlib.util.find_spec(pool) is not None:
        pytest.skip(f"{pool} is installed here")
    result = run_appctl("worker", "-P", pool, env=env)
    assert (result.returncode, result.stdout) == (78, ""), result.stderr
    assert result.stderr.splitlines()[-1].startswith(f"Error: the {pool} pool needs a package that is not installed")
    assert f"(hint: pip install {pool})" in result.stderr


REJECTED = [  # (worker options, exit code, what the error line says); {tmp} is a directory that exists
    (["-P", "bogus"], 2, "Invalid value for '-P'"),
    (["-c", "many"], 2, "Invalid value for '-c'"),
    (["-c", "-1"], 2, "Invalid value for '-c'"),
    (["--autoscale", "x"], 2, "Invalid value for '--autoscale'"),
    (["-l", "chatty"], 2, "Invalid value for '-l'"),
    (["--time-limit", "soon"], 2, "Invalid value for '--time-limit'"),
    (["worker_no_such_setting=1"], 2, "Unable to parse extra configuration from command line. Reason:"),
    (["-P", "custom"], 78, "the worker cannot import 'custom'"),
    (["-I", "no_such_module_for_appctl"], 78, "the worker cannot import 'no_such_module_for_appctl'"),
    (["--logfile", "{tmp}/missing/worker.log"], 78, "the worker cannot start: [Errno 2]"),
    (["--statedb", "{tmp}/missing/state"], 78, "the worker cannot start: [Errno 2]"),
    (["--pidfile", "{tmp}/missing/worker.pid"], 78, "the worker cannot start: the pid file's folder"),
    (["--pidfile={tmp}/missing/worker.pid"], 78, "the worker cannot start: the pid file's folder"),
    (["--uid", "no-such-user-for-appctl"], 78, "the worker cannot start: 'User does not exist"),
    (["--hostname", "\udcff@%h"], 65, "is not UTF-8 text"),  # its heartbeats could never be written
    (["-Q", "celery,\udcff"], 65, "is not UTF-8 text"),
]


@pytest.mark.parametrize(("options", "code", "message"), REJECTED, ids=[" ".join(r[0]) for r in REJECTED])
def test_worker_options_celery_rejects_have_documented_codes(
    app: Any, env: dict[str, str], tmp_path: Path, options: list[str], code: int, message: str
) -> None:
    env.pop("CELERY_CUSTOM_WORKER_POOL", None)
    options = [option.format(tmp=tmp_path) for option in options]
    result = run_appctl("worker", "-P", "solo", "--without-mingle", *options, env=env)
    assert (result.returncode, result.stdout) == (code, ""), result.stderr
    assert message in result.stderr.splitlines()[-1], result.stderr
    assert "Traceback" not in result.stderr


def test_a_pidfile_held_by_a_running_worker_is_a_config_error(app: Any, env: dict[str, str], tmp_path: Path) -> None:
    holder = subprocess.Popen(["sleep", "600"])
    try:
        pidfile = tmp_path / "worker.pid"
        pidfile.write_text(f"{holder.pid}\n")
        result = run_appctl("worker", "-P", "solo", "--without-mingle", "--pidfile", str(pidfile), env=env)
    finally:
        holder.kill()
        holder.wait()
    assert (result.returncode, result.stdout) == (78, ""), result.stderr
    assert "already exists" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("Error: the worker could not start (Celery exit status 73)")
