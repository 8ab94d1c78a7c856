"""Running the installed appctl with a pseudo-terminal as stdin and stdout, as in an interactive shell."""

from __future__ import annotations

import os
import pty
import subprocess
from dataclasses import dataclass

from tests.conftest import APPCTL


@dataclass
class TerminalRun:
    """What a run on a terminal printed: the terminal's bytes (stdout and echo) and stderr apart."""

    returncode: int
    screen: str
    stderr: str


def run_on_terminal(*args: str, env: dict[str, str], typed: str = "", timeout: float = 60) -> TerminalRun:
    """Run ``appctl ARGS`` with stdin and stdout on a pty, ``typed`` waiting as keyboard input."""
    main_fd, terminal_fd = pty.openpty()
    try:
        os.write(main_fd, typed.encode())
        process = subprocess.Popen(
            [APPCTL, *args],
            env={**env, "TERM": "xterm-256color", "COLUMNS": "100"},
            stdin=terminal_fd,
            stdout=terminal_fd,
            stderr=subprocess.PIPE,
        )
        _, stderr = process.communicate(timeout=timeout)
        os.close(terminal_fd)
        terminal_fd = -1
        return TerminalRun(process.returncode, read_all(main_fd), stderr.decode())
    finally:
        os.close(main_fd)
        if terminal_fd != -1:
            os.close(terminal_fd)


def read_all(fd: int) -> str:
    """Everything left to read on the pty's main side (the read fails once the other side is closed)."""
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace").replace("\r\n", "\n")
