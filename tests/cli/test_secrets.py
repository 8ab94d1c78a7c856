"""No piece of a service URL's password is ever printed, however the URL is written.

Drivers read a URL with an unencoded "@", "#", "/", "?" or ":" in its password each their own way
and echo what they took for a host, a port or a path: those pieces must be masked too.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import unquote

import pytest
from click.testing import CliRunner

from cli import cli
from tests.conftest import APPCTL, run_appctl
from tests.processes import refused_port, stop_process_group

# Pieces of three characters or more that occur nowhere else (paths, ids, messages).
PASSWORDS = [
    "Ky7@Qx9",
    "Ky7#Qx9",
    "Ky7/Qx9",
    "Ky7?Qx9",
    "Ky7:Qx9",
    "Ky7@Qx9#Zm4/Wp2?Rt5:Hn8",
    "Ky7@@Qx9//Zm4##Wp2",
    "Ky7%40Qx9%23Zm4%2FWp2%3FRt5%3AHn8",
    "Ky7:Qx9%40Zm4#Wp2@Rt5",
]
TEMPLATES = {
    "DATABASE_URL": [
        "postgresql://postgres:{password}@127.0.0.1:{port}/db",
        "postgresql+psycopg://postgres:{password}@127.0.0.1:{port}/db",
        "postgres://postgres:{password}@127.0.0.1:{port}/db",
    ],
    "CELERY_BROKER_URL": [
        "redis://:{password}@127.0.0.1:{port}/0",
        "rediss://:{password}@127.0.0.1:{port}/0",
        "amqp://guest:{password}@127.0.0.1:{port}//",
        "amqps://guest:{password}@127.0.0.1:{port}//",
        "sqla+postgresql://postgres:{password}@127.0.0.1:{port}/db",
    ],
    "CELERY_RESULT_BACKEND": [
        "redis://:{password}@127.0.0.1:{port}/1",
        "rediss://:{password}@127.0.0.1:{port}/1",
        "db+postgresql://postgres:{password}@127.0.0.1:{port}/db",
        "db+redis://:{password}@127.0.0.1:{port}/1",
    ],
}
MADE_UP_ID = str(uuid.uuid4())
COMMANDS = {
    "status": ["status"],
    "db upgrade": ["db", "upgrade"],
    "db status": ["db", "status"],
    "user add": ["user", "add", "alice", "alice@example.com"],
    "user list": ["user", "list"],
    "task send": ["task", "send", "divide", "1", "2"],
    "task send --wait": ["task", "send", "--wait", "--timeout", "5", "divide", "1", "2"],
    "result wait": ["result", "wait", "--timeout", "5", MADE_UP_ID],
    "task status": ["task", "status", MADE_UP_ID],
    "task history": ["task", "history"],
}
SHORT_BOUNDS = {"APPCTL_CONNECT_TIMEOUT": "1", "APPCTL_SOCKET_TIMEOUT": "1", "APPCTL_PUBLISH_RETRIES": "0"}


def pieces(password: str) -> set[str]:
    """The password, decoded too, and each piece of three characters or more between its special characters."""
    forms = {password, unquote(password)}
    return forms | {p for form in forms for p in re.split(r"[@#/?:]|%[0-9A-F]{2}", form) if len(p) >= 3}


def assert_no_piece(password: str, *outputs: str) -> None:
    shown = "\n".join(outputs)
    leaked = sorted(piece for piece in pieces(password) if piece in shown)
    assert not leaked, f"{leaked} printed:\n{shown}"


def hostile_urls() -> Iterator[tuple[str, str, str]]:
    for setting, templates in TEMPLATES.items():
        for template in templates:
            for password in PASSWORDS:
                yield setting, template, password


@pytest.mark.slow
@pytest.mark.parametrize(
    "args", [["status", "-o", "json"], ["--debug", "task", "send", "--wait", "--timeout", "1", "divide", "1", "2"]]
)
@pytest.mark.parametrize(("setting", "template", "password"), list(hostile_urls()))
def test_no_piece_of_a_password_is_printed(
    runner: CliRunner,
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    setting: str,
    template: str,
    password: str,
    args: list[str],
) -> None:
    for name, value in SHORT_BOUNDS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(setting, template.format(password=password, port=refused_port()))
    result = runner.invoke(cli, args)
    assert result.exit_code != 0, result.output
    assert_no_piece(password, result.stdout, result.stderr)


@pytest.mark.parametrize(
    ("setting", "template", "password"),
    [
        ("DATABASE_URL", "postgresql://postgres:{password}@127.0.0.1/db", "Ky7@Qx9"),
        ("DATABASE_URL", "postgresql://postgres:{password}@127.0.0.1/db", "Ky7/Qx9"),
        ("DATABASE_URL", "postgresql://postgres:{password}@127.0.0.1/db", "Ky7%Qx9"),  # no %XX: libpq refuses it
        ("CELERY_BROKER_URL", "redis://:{password}@127.0.0.1:6379/0", "Ky7#Qx9"),
        ("CELERY_BROKER_URL", "sqla+postgresql://postgres:{password}@127.0.0.1/db", "Ky7@Qx9"),
        ("CELERY_RESULT_BACKEND", "redis://:{password}@127.0.0.1:6379/0", "Ky7/Qx9?Zm4"),
        ("CELERY_RESULT_BACKEND", "db+postgresql://postgres:{password}@127.0.0.1/db", "Ky7@Qx9"),
    ],
)
def test_a_password_drivers_would_misread_is_a_config_error(
    runner: CliRunner, env: dict[str, str], monkeypatch: pytest.MonkeyPatch, setting: str, template: str, password: str
) -> None:
    monkeypatch.setenv(setting, template.format(password=password))
    result = runner.invoke(cli, ["user", "list"])
    assert result.exit_code == 78, result.output
    assert result.stderr.startswith(f"Error: {setting} '")
    assert "(hint: percent-encode the password: " in result.stderr
    assert_no_piece(password, result.stderr)


# Every command that reports a service error, as a subprocess, for a URL of each kind whose
# password reaches the driver (the forms config accepts) and for the two examples.
REPRESENTATIVE = [
    ("DATABASE_URL", "postgresql://postgres:{password}@127.0.0.1:{port}/db", "Ky7#Qx9?Zm4:Wp2%40Rt5"),
    ("DATABASE_URL", "postgresql://postgres:{password}@127.0.0.1:{port}/db", "Ky7@Qx9"),
    ("CELERY_BROKER_URL", "redis://:{password}@127.0.0.1:{port}/0", "Ky7:Qx9%23Zm4%2FWp2@Rt5"),
    ("CELERY_BROKER_URL", "redis://:{password}@127.0.0.1:{port}/0", "Ky7#Qx9"),
    ("CELERY_BROKER_URL", "amqp://guest:{password}@127.0.0.1:{port}//", "Ky7:Qx9%23Zm4@Wp2"),
    ("CELERY_BROKER_URL", "sqla+postgresql://postgres:{password}@127.0.0.1:{port}/db", "Ky7:Qx9%40Zm4"),
    ("CELERY_RESULT_BACKEND", "redis://:{password}@127.0.0.1:{port}/1", "Ky7:Qx9%23Zm4@Wp2"),
    ("CELERY_RESULT_BACKEND", "db+postgresql://postgres:{password}@127.0.0.1:{port}/db", "Ky7#Qx9?Zm4:Wp2"),
]
WORKER_SAID_ENOUGH = (
    "Cannot connect",
    "Connection to broker lost",
    "not recorded",
    "Unrecoverable",
    "Error:",
    "ready.",
)


def run_worker(env: dict[str, str], args: list[str], log_path: Path) -> str:
    """Start ``appctl [--debug] worker``, stop it once it reported its fate (or ended), return its output."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [APPCTL, *args, "worker", "--concurrency", "1"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 90
        while process.poll() is None and time.monotonic() < deadline:
            if any(marker in log_path.read_text(errors="replace") for marker in WORKER_SAID_ENOUGH):
                time.sleep(1)  # the lines that follow the first one (a traceback, the next retry)
                break
            time.sleep(0.2)
    finally:
        stop_process_group(process)
    return log_path.read_text(errors="replace")


@pytest.mark.slow
@pytest.mark.parametrize(("setting", "template", "password"), REPRESENTATIVE)
def test_no_command_prints_a_piece_of_a_password(
    env: dict[str, str], tmp_path: Path, setting: str, template: str, password: str
) -> None:
    env.update(SHORT_BOUNDS)
    env[setting] = template.format(password=password, port=refused_port())
    # --debug prints everything the plain run does (the error line) and the traceback besides.
    runs = [["--debug", *args] for args in COMMANDS.values()]
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda args: run_appctl(*args, env=env, timeout=120), runs))
    for result in results:
        assert_no_piece(password, result.stdout, result.stderr)
    assert_no_piece(password, run_worker(env, ["--debug"], tmp_path / "worker.log"))


def test_what_drivers_echo_back_is_masked() -> None:
    from project.urls import mask_secrets

    urls = ["postgresql://postgres:Ky7@Qx9@127.0.0.1/db", "redis://:Zm4#Wp2@127.0.0.1:6379/0"]
    echoed = "failed to resolve host 'Qx9@127.0.0.1'; Port could not be cast to integer value as 'Zm4'"
    assert (
        mask_secrets(echoed, urls)
        == "failed to resolve host '***@127.0.0.1'; Port could not be cast to integer value as '***'"
    )
    assert mask_secrets("redis://:Zm4#Wp2@127.0.0.1:6379/0", []) == "redis://:***@127.0.0.1:6379/0"


LOGS_AND_WARNINGS = """
import logging, warnings
from cli.secrets import mask_logs_and_warnings
from cli.stderr_log import log_warnings_to_stderr
mask_logs_and_warnings()
log_warnings_to_stderr()
logging.getLogger("appctl.test").warning("host %r", "Qx9@Zm4")
try:
    raise ValueError("Zm4 in a traceback")
except ValueError:
    logging.getLogger("appctl.test").exception("failed")
warnings.warn("Ky7:Qx9 in a warning", UserWarning, stacklevel=1)
"""


def test_log_records_and_warnings_are_masked(env: dict[str, str]) -> None:
    env["CELERY_BROKER_URL"] = "amqp://guest:Ky7:Qx9%40Zm4@127.0.0.1//"
    done = subprocess.run(
        [sys.executable, "-c", LOGS_AND_WARNINGS], env=env, capture_output=True, text=True, timeout=60
    )
    assert "Warning: host '***@***'" in done.stderr
    assert "ValueError: *** in a traceback" in done.stderr
    assert "UserWarning: ***:*** in a warning" in done.stderr
    assert_no_piece("Ky7:Qx9%40Zm4", done.stderr)
