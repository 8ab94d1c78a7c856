"""A worker process's job-history writes, held briefly and written in batches by a thread.

Two commits per job (started, then the outcome) cost a worker more than half its throughput. A
worker process therefore keeps its rows here, one per job (a start and its outcome merge), and a
thread writes them through the app's one writer (project/jobs/history/write.py), one statement
per batch, every ``APPCTL_HISTORY_FLUSH_INTERVAL`` seconds (project/bounds.py) and at once on a
warm shutdown. What a killed worker never wrote, readers take from the result backend
(``reconciled`` in project/jobs/results.py). An interval of 0 writes every row as it comes.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from flask import Flask

from project.jobs.history.values import merge_progress
from project.jobs.history.write import current_writer, history_guard

BATCH_ROWS = 1000  # rows per statement; a full batch is written before the interval ends
STOP_TIMEOUT = 30.0  # seconds a shutdown waits for the writing thread's last batch


class HistoryBuffer:
    """The rows one process has yet to write for one app, and the thread that writes them."""

    def __init__(self, flask_app: Flask) -> None:
        self.flask_app = flask_app
        self.interval: float = flask_app.config["APPCTL_HISTORY_FLUSH_INTERVAL"]
        self.rows: dict[str, dict[str, Any]] = {}  # by task id, in the order jobs first appeared
        # Re-entrant: a SIGTERM handler (signals.py) may flush while this thread is in the middle of ``add``.
        self.lock = threading.RLock()  # guards ``rows``
        self.writing = threading.RLock()  # one batch at a time, so a job's rows reach the database in order
        self.wake = threading.Event()
        self.stopped = False
        self.thread: threading.Thread | None = None

    def add(self, row: dict[str, Any]) -> None:
        """Hold ``row`` (``values.progress_row``) until the next write."""
        with self.lock:
            earlier = self.rows.pop(row["id"], None)  # popped: a job seen again goes after the others
            self.rows[row["id"]] = merge_progress(earlier, row) if earlier else row
            full = len(self.rows) >= BATCH_ROWS
        if self.interval <= 0 or self.stopped:
            self.flush()
            return
        if self.thread is None:
            self._start()
        if full:
            self.wake.set()

    def flush(self, timeout: float = -1) -> None:
        """Write every row held now (a failure is a warning: the job goes on; readers make it good)."""
        if not self.writing.acquire(timeout=timeout):
            return
        try:
            with self.lock:
                rows, self.rows = list(self.rows.values()), {}
            for start in range(0, len(rows), BATCH_ROWS):
                batch = rows[start : start + BATCH_ROWS]
                with self.flask_app.app_context(), history_guard("course", [row["id"] for row in batch]):
                    current_writer().record_progress(batch)
        finally:
            self.writing.release()

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Write what is held and stop the thread; later rows are written as they come."""
        self.stopped = True
        self.wake.set()
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(timeout)
        self.flush(timeout)

    def _start(self) -> None:
        with self.lock:
            if self.thread is not None:
                return
            self.thread = threading.Thread(target=self._run, name="appctl-history", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopped:
            self.wake.wait(self.interval)
            self.wake.clear()
            self.flush()


_buffers: dict[int, HistoryBuffer] = {}
_buffers_pid = os.getpid()
_buffers_lock = threading.RLock()


def buffer_for(flask_app: Flask) -> HistoryBuffer:
    """This process's buffer for ``flask_app`` (a forked pool process starts with none of its parent's)."""
    global _buffers_pid
    with _buffers_lock:
        if _buffers_pid != os.getpid():
            _buffers.clear()  # the parent's rows are the parent's to write; its thread did not survive the fork
            _buffers_pid = os.getpid()
        buffer = _buffers.get(id(flask_app))
        if buffer is None:
            buffer = _buffers[id(flask_app)] = HistoryBuffer(flask_app)
    return buffer


def record_progress(flask_app: Flask, row: dict[str, Any]) -> None:
    """Hold a worker's row for ``flask_app``'s history."""
    buffer_for(flask_app).add(row)


def flush_all(flask_app: Flask | None = None, timeout: float = STOP_TIMEOUT) -> None:
    """Write and stop this process's buffers (only ``flask_app``'s when given): a worker is stopping."""
    with _buffers_lock:
        if _buffers_pid != os.getpid():
            return
        if flask_app is None:
            stopping = list(_buffers.values())
            _buffers.clear()
        else:
            found = _buffers.pop(id(flask_app), None)
            stopping = [found] if found else []
    for buffer in stopping:
        buffer.stop(timeout)
