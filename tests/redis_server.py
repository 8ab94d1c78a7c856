"""A private ``redis-server`` a test starts, pauses (SIGSTOP), resumes, kills and starts again."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from tests.processes import refused_port


class RedisServer:
    """One ``redis-server`` on a spare port; with ``durable`` every write is on disk before it is
    acknowledged (``appendfsync always``), so a SIGKILL and a start again lose nothing."""

    def __init__(self, directory: Path, durable: bool = False) -> None:
        self.directory = directory
        self.durable = durable
        self.port = refused_port()
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        """The server's URL on database ``db``."""
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        """Start the server and wait (bounded) until it answers PING."""
        import redis

        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.durable else ["--appendonly", "no"]
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", *persistence]
        command += ["--dir", str(self.directory)]
        log = (self.directory / "redis.log").open("ab")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        client = redis.Redis.from_url(self.url(), socket_connect_timeout=1, socket_timeout=1)
        deadline = time.monotonic() + 30
        while True:
            with suppress(redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
                if client.ping():
                    return
            assert self.process.poll() is None, (self.directory / "redis.log").read_text()
            assert time.monotonic() < deadline, "redis-server did not answer within 30 s"
            time.sleep(0.05)

    def pause(self) -> None:
        """SIGSTOP: connections stay open and new ones are accepted, nothing is answered."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT: the server answers again, everything it held is still there."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL the server (it may be paused) and reap it: its connections drop, new ones are refused."""
        if self.process is None:
            return
        with suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.process = None


@contextmanager
def private_redis(tmp_path: Path, durable: bool = False) -> Iterator[RedisServer]:
    """A running private ``redis-server`` for the block, killed afterwards; skips when none is installed."""
    if shutil.which("redis-server") is None:
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail("redis-server is not installed and REQUIRE_SERVICES=1")
        pytest.skip("redis-server is not installed")
    directory = tmp_path / f"redis-{os.urandom(3).hex()}"
    directory.mkdir()
    server = RedisServer(directory, durable)
    server.start()
    try:
        yield server
    finally:
        server.kill()
