"""Running the installed appctl with a pseudo-terminal as stdin and stdout, as in an interactive shell."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import subprocess
import termios
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import APPCTL, HANG


@dataclass
class TerminalRun:
    """What a run on a terminal printed: the terminal's bytes (stdout and echo) and stderr apart."""

    returncode: int
    screen: str
    stderr: str


def run_on_terminal(
    *args: str,
    env: dict[str, str],
    typed: str = "",
    timeout: float = 60,
    columns: int = 100,
    stderr_too: bool = False,
    stdin: int | None = None,
) -> TerminalRun:
    """Run ``appctl ARGS`` with stdin and stdout on a ``columns``-wide pty, ``typed`` waiting as keyboard input.

    ``stderr_too``: stderr goes to the terminal as well (its text is then in ``screen``); ``stdin``: a
    file descriptor to read instead of the terminal.
    """
    main_fd, terminal_fd = pty.openpty()
    try:
        os.write(main_fd, typed.encode())
        process = subprocess.Popen(
            [APPCTL, *args],
            env={**env, "TERM": "xterm-256color", "COLUMNS": str(columns)},
            stdin=terminal_fd if stdin is None else stdin,
            stdout=terminal_fd,
            stderr=terminal_fd if stderr_too else subprocess.PIPE,
        )
        _, stderr = process.communicate(timeout=timeout)
        os.close(terminal_fd)
        terminal_fd = -1
        return TerminalRun(process.returncode, read_all(main_fd), (stderr or b"").decode())
    finally:
        os.close(main_fd)
        if terminal_fd != -1:
            os.close(terminal_fd)


def read_all(fd: int, newlines: bool = True) -> str:
    """Everything left to read on the pty's main side (the read fails once the other side is closed);
    ``newlines``: the terminal's CRLF read as LF."""
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    text = b"".join(chunks).decode(errors="replace")
    return text.replace("\r\n", "\n") if newlines else text


def run_with_terminal_stderr(*args: str, env: dict[str, str], stdin: str) -> tuple[int, str, str]:
    """Run appctl with stderr on a pseudo-terminal (stdout and stdin piped): (status, stdout, terminal)."""
    main_fd, terminal_fd = pty.openpty()
    try:
        process = subprocess.Popen(
            [APPCTL, *args],
            env={**env, "TERM": "xterm-256color", "COLUMNS": "100"},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=terminal_fd,
        )
        stdout, _ = process.communicate(stdin.encode(), timeout=60)
        os.close(terminal_fd)
        terminal_fd = -1
        return process.returncode, stdout.decode(), read_all(main_fd, newlines=False)
    finally:
        os.close(main_fd)
        if terminal_fd != -1:
            os.close(terminal_fd)


def run_with_ctrl_c(*args: str, env: dict[str, str], after: str, timeout: float = 120) -> TerminalRun:
    """Run ``appctl ARGS`` with a pty as its controlling terminal; press Ctrl-C once stderr shows ``after``.

    The pty's line discipline turns the typed ^C into SIGINT for the process, as a real terminal does.
    """
    main_fd, terminal_fd = pty.openpty()

    def on_the_terminal() -> None:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)  # stdin is the pty: make it the session's terminal
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    try:
        process = subprocess.Popen(
            [APPCTL, *args],
            env={**env, "TERM": "xterm-256color", "COLUMNS": "100"},
            stdin=terminal_fd,
            stdout=terminal_fd,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=on_the_terminal,
        )
        assert process.stderr is not None
        stderr = b""
        deadline = time.monotonic() + timeout
        while after.encode() not in stderr:
            ready, _, _ = select.select([process.stderr], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(process.stderr.fileno(), 65536) if ready else b""
            if not chunk:
                process.kill()
                raise AssertionError(f"no {after!r} on stderr: {stderr!r}")
            stderr += chunk
        # Python notices a signal only in its own code or when a system call is interrupted: a ^C that
        # comes before the prompt's read(0, …) starts is noticed only after a line is typed. Wait for it.
        while not Path(f"/proc/{process.pid}/syscall").read_text().startswith("0 0x0 "):
            if time.monotonic() > deadline:
                raise AssertionError("appctl never read from the terminal")
            time.sleep(0.05)
        os.write(main_fd, b"\x03")
        stderr += process.stderr.read()
        process.wait(timeout=timeout)
        os.close(terminal_fd)
        terminal_fd = -1
        return TerminalRun(process.returncode, read_all(main_fd), stderr.decode())
    finally:
        os.close(main_fd)
        if terminal_fd != -1:
            os.close(terminal_fd)


class OnTerminal:
    """``appctl ARGS`` running with stdin and stdout on a pty (stderr piped), read while it runs."""

    def __init__(self, *args: str, env: dict[str, str], columns: int = 100) -> None:
        self.main_fd, terminal_fd = pty.openpty()
        self.process = subprocess.Popen(
            [APPCTL, *args],
            env={**env, "TERM": "xterm-256color", "COLUMNS": str(columns)},
            stdin=terminal_fd,
            stdout=terminal_fd,
            stderr=subprocess.PIPE,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        os.close(terminal_fd)
        self.screen = ""

    def wait_for(self, text: str, timeout: float = HANG) -> str:
        """Read the terminal until ``text`` appears on it (fail after ``timeout`` s or when appctl ends first)."""
        deadline = time.monotonic() + timeout
        while text not in self.screen:
            ready, _, _ = select.select([self.main_fd], [], [], max(0.0, min(1.0, deadline - time.monotonic())))
            chunk = b""
            if ready:
                try:
                    chunk = os.read(self.main_fd, 65536)
                except OSError:  # appctl ended and closed the terminal
                    chunk = b""
            self.screen += chunk.decode(errors="replace").replace("\r\n", "\n")
            if not chunk and (self.process.poll() is not None or time.monotonic() > deadline):
                raise AssertionError(f"no {text!r} on the terminal: {self.screen!r}")
        return self.screen

    def finish(self, interrupt: bool = False, timeout: float = HANG) -> TerminalRun:
        """Press Ctrl-C first if ``interrupt``; wait for appctl to end and read the rest of the terminal."""
        if interrupt:
            self.process.send_signal(signal.SIGINT)
        assert self.process.stderr is not None
        deadline = time.monotonic() + timeout
        while self.process.poll() is None:  # keep reading: a full terminal would stop appctl
            if time.monotonic() > deadline:
                self.process.kill()
                raise AssertionError(f"appctl did not end: {self.screen!r}")
            if select.select([self.main_fd], [], [], 0.2)[0]:
                with suppress(OSError):
                    self.screen += os.read(self.main_fd, 65536).decode(errors="replace").replace("\r\n", "\n")
        stderr = self.process.stderr.read()  # a line or two: the pipe held it
        self.screen += read_all(self.main_fd)
        os.close(self.main_fd)
        return TerminalRun(self.process.returncode, self.screen, stderr.decode())


_CONTROL = re.compile(r"\x1b\[(\??)([\d;]*)([A-Za-z])|\r|\n")


def screen_lines(raw: str) -> list[str]:
    """The lines a terminal shows after ``raw`` (with LF read as CRLF): carriage returns, cursor up and
    erase-line applied, styles dropped; enough for rich's tables, live displays and progress bars."""
    lines, row, col, at = [""], 0, 0, 0
    for match in [*_CONTROL.finditer(raw), None]:
        text = raw[at : match.start() if match else len(raw)]
        line = lines[row].ljust(col)
        lines[row] = line[:col] + text + line[col + len(text) :]
        col += len(text)
        if match is None:
            break
        at = match.end()
        if match[0] == "\n":
            row, col = row + 1, 0
            lines += [""] * (row + 1 - len(lines))
        elif match[0] == "\r":
            col = 0
        elif match[3] == "A" and not match[1]:
            row = max(0, row - int(match[2] or 1))
        elif match[3] == "K" and not match[1]:
            lines[row] = "" if match[2] == "2" else lines[row][:col]
    return [line.rstrip() for line in lines]
