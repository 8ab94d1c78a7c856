"""Pressing Ctrl-C on a running appctl: a real process, SIGINT, and what it can see of its own state."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import APPCTL

INTERRUPTED = "Error: interrupted\n"
BOUND = 120  # seconds: generous, the machine is loaded; every wait polls for its condition


def restore_sigint() -> None:
    """In the child: SIGINT's default, which a process started from a non-interactive shell lacks."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(*args: str, env: dict[str, str], **popen: object) -> subprocess.Popen[bytes]:
    """``appctl ARGS`` as its own process, stdout and stderr piped, ready to take a Ctrl-C."""
    options = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "preexec_fn": restore_sigint, **popen}
    return subprocess.Popen([APPCTL, *args], env=env, **options)  # type: ignore[call-overload]


def wait_until(condition: Callable[[], bool], process: subprocess.Popen[bytes], what: str) -> None:
    """Poll ``condition`` while ``process`` runs; fail (with its stderr) if it ends first."""
    deadline = time.monotonic() + BOUND
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"appctl ended (exit {process.returncode}) before {what}: {process.stderr.read()!r}")  # type: ignore[union-attr]
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"appctl never got to {what}")
        time.sleep(0.05)


def interrupt(process: subprocess.Popen[bytes]) -> tuple[int, str, str]:
    """Press Ctrl-C: SIGINT to the process; its exit status, the rest of its stdout, its stderr."""
    process.send_signal(signal.SIGINT)
    assert process.stdout is not None and process.stderr is not None
    # Not communicate(): it reads the pipes' descriptors and would miss what readline() buffered.
    out, err = process.stdout.read(), process.stderr.read()  # stderr holds a line or two: no deadlock
    process.wait(timeout=BOUND)
    return process.returncode, out.decode(), err.decode()


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def connections(pid: int, port: int) -> list[int]:
    """The local ports of ``pid``'s TCP connections to ``port`` on 127.0.0.1 (from /proc)."""
    try:
        inodes = _socket_inodes(pid)
        lines = Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return []
    found = []
    for line in lines:
        fields = line.split()
        local, remote, inode = fields[1], fields[2], fields[9]
        if inode in inodes and int(remote.split(":")[1], 16) == port:
            found.append(int(local.split(":")[1], 16))
    return found


def has_open(pid: int, path: Path) -> bool:
    """True when ``pid`` holds ``path`` open."""
    try:
        return any(os.readlink(fd) == str(path) for fd in Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False
