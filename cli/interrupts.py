"""Ctrl-C: no driver noise while it unwinds, and no traceback when it comes after the command ended.

logging and signal are imported when a command runs: `appctl --help` stays light.
"""

from __future__ import annotations

import sys
from contextlib import suppress
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import logging


def not_from_an_interrupt(record: logging.LogRecord) -> bool:
    """False for a record logged while a KeyboardInterrupt unwinds (psycopg's "error ignored terminating …")."""
    exc: BaseException | None = sys.exc_info()[1]
    for _ in range(8):  # a chain is short; the bound guards against cycles
        if exc is None:
            return True
        if isinstance(exc, KeyboardInterrupt):
            return False
        exc = exc.__cause__ or exc.__context__
    return True


def quiet_cleanup_on_interrupt() -> None:
    """Keep the warnings that drivers log about cleanup cut short by Ctrl-C off stderr (appctl says "interrupted").

    Such records reach stderr through logging's last-resort handler: appctl configures no logging.
    """
    import logging

    if logging.lastResort is not None:
        logging.lastResort.addFilter(not_from_an_interrupt)  # adds it once, however often called


def let_late_interrupts_kill() -> None:
    """After the command: flush its output, then let a Ctrl-C end the process at once, without a traceback."""
    import signal

    for stream in (sys.stdout, sys.stderr):
        with suppress(OSError, ValueError):
            stream.flush()
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
