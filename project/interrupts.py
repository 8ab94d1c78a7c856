"""Holding Ctrl-C back while a step that must not be cut in two runs (a batch sent and recorded)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def interrupts_held() -> Iterator[None]:
    """Hold SIGINT back inside the block; one that came meanwhile is raised as KeyboardInterrupt at its end.

    Only where Python's own SIGINT handler is in place (the main thread; SIGINT not ignored);
    elsewhere the block runs as it is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    caught: list[int] = []

    def hold(signum: int, _frame: Any) -> None:
        caught.append(signum)

    signal.signal(signal.SIGINT, hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if caught:
            raise KeyboardInterrupt  # the user asked to stop: that outranks any other ending
