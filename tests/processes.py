"""Real processes for tests: `appctl worker` in its own process group, a silent TCP server, a refused port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import APPCTL


def worker_command(name: str, concurrency: int = 2) -> list[str]:
    """``appctl worker -n NAME`` logging at INFO, without mingle (nothing to wait for at start)."""
    return [APPCTL, "worker", "-n", f"{name}@%h", "-c", str(concurrency), "-l", "info", "--without-mingle"]


def start_worker(
    command: Sequence[str], env: dict[str, str], log: Path, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start ``command`` in a process group of its own, its output appended to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the worker and every process it started (its prefork children), then reap it."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)


@dataclass
class WorkerProcess:
    """A worker started as its own process group, with its output in ``log_path``."""

    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        """Everything the worker printed so far."""
        return self.log_path.read_text(errors="replace")


@contextmanager
def worker_process(
    command: Sequence[str], env: dict[str, str], log_path: Path, cwd: Path | None = None, ready_timeout: float = 60
) -> Iterator[WorkerProcess]:
    """Start ``command`` (a worker logging at INFO), wait for "ready.", and kill its process group at the end."""
    log_path.write_bytes(b"")
    process = start_worker(command, env, log_path, cwd)
    worker = WorkerProcess(process, log_path)
    try:
        deadline = time.monotonic() + ready_timeout
        while " ready." not in worker.log():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"worker did not start (exit {process.returncode}):\n{worker.log()}")
            time.sleep(0.1)
        yield worker
    finally:
        stop_process_group(process)


def stop_process_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group (a warm shutdown), then SIGKILL whatever is left after 20 s."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout=20)
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@contextmanager
def silent_server() -> Iterator[int]:
    """A TCP server on 127.0.0.1 that accepts connections and never sends a byte; yields its port."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=64)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept_forever() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept_forever, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        for connection in accepted:
            connection.close()
        listener.close()


def refused_port() -> int:
    """A port on 127.0.0.1 where nothing listens (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class FaultyProxy:
    """A TCP proxy to a real service that can later go silent (connections kept, nothing forwarded)
    or dead (connections closed, new ones refused): a service failing while appctl uses it."""

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.port = int(self.listener.getsockname()[1])
        self.silent = threading.Event()
        self.sockets: list[socket.socket] = []
        self.replies = 0  # chunks the service sent back: something to poll for instead of sleeping
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target, timeout=5)
            self.sockets += [client, upstream]
            for source, sink, replies in ((client, upstream, False), (upstream, client, True)):
                threading.Thread(target=self._pump, args=(source, sink, replies), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, replies: bool) -> None:
        with suppress(OSError):
            while data := source.recv(65536):
                if not self.silent.is_set():
                    sink.sendall(data)
                    self.replies += replies

    def go_silent(self) -> None:
        """Keep every connection open and accept new ones, but never answer again."""
        self.silent.set()

    def die(self) -> None:
        """Close every connection and refuse new ones."""
        self.listener.close()
        for connection in self.sockets:
            with suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()


class ExecReplyLost(FaultyProxy):
    """A proxy to Redis that passes everything on until a client sends a transaction that pushes a
    message: Redis gets it and applies it, but from then on no reply reaches any client (the broker's
    answer is lost)."""

    def _pump(self, source: socket.socket, sink: socket.socket, replies: bool) -> None:
        sent = b""  # what this client sent since its last EXEC: a transaction may come in several reads
        with suppress(OSError):
            while data := source.recv(65536):
                if self.silent.is_set():
                    continue
                if not replies:
                    sent += data
                    if b"\r\nEXEC\r\n" in sent:
                        if b"\r\nLPUSH\r\n" in sent:  # a push's transaction, not a declare's LLENs
                            self.silent.set()  # before Redis gets it: its reply must not slip through
                        sent = b""
                sink.sendall(data)
