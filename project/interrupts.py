"""Holding Ctrl-C (or SIGTERM) back while a step that must not be cut in two runs (a batch sent and recorded)."""

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
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    with signals_held(signal.SIGINT):  # the user asked to stop: that outranks any other ending
        yield


@contextmanager
def signals_held(*signums: int) -> Iterator[None]:
    """Hold ``signums`` back inside the block; the first that came meanwhile goes to its own handler at the end.

    In the main thread only (Python runs signal handlers there); elsewhere the block runs as it is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []

    def hold(signum: int, _frame: Any) -> None:
        caught.append(signum)

    held = [signum for signum in signums if signal.getsignal(signum) is not None]  # None: a handler set in C
    previous = {signum: signal.signal(signum, hold) for signum in held}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if caught:
            signal.raise_signal(caught[0])  # its handler runs now, as if it had just come
