"""The embedded broker stops polling once its worker is told to stop (kombu would poll on)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from celery.signals import worker_shutting_down
from kombu import Connection

from project.broker import embedded, register_transports

NO_MESSAGE_BOUND = 30.0  # seconds the test waits for the drain to end; kombu's would never end


@pytest.mark.parametrize("how", ["Warm", "Cold"])
def test_draining_an_idle_queue_ends_once_the_worker_is_told_to_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    monkeypatch.setattr(embedded, "_worker_stopping", threading.Event())  # this process goes on after the test
    register_transports()
    outcome: list[BaseException | None] = []
    with Connection(f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}") as conn:
        assert isinstance(conn.transport, embedded.Transport)
        idle = conn.SimpleQueue("idle")

        def drain() -> None:
            try:
                conn.drain_events(timeout=None)  # no message will come
                outcome.append(None)
            except BaseException as exc:
                outcome.append(exc)

        drainer = threading.Thread(target=drain, daemon=True)
        drainer.start()
        drainer.join(0.5)
        assert drainer.is_alive() and not outcome  # polling: nothing to take yet
        # What Celery's SIGTERM (Warm) or SIGQUIT (Cold) handler sends in the worker's main process.
        worker_shutting_down.send(sender="celery@test", sig="SIGTERM", how=how, exitcode=0)
        drainer.join(NO_MESSAGE_BOUND)
        idle.close()
    assert len(outcome) == 1 and isinstance(outcome[0], TimeoutError)
