"""The one stderr handler for project/'s warnings: ``Warning: <message>``, secrets masked.

project/ logs its warnings (a history that could not be written, a revoke not broadcast) to the
``appctl`` loggers and writes no prefix; this handler prints them the way appctl prints errors.
In a worker, whose logging Celery configures, they go to Celery's handlers instead, as any record.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from cli.interrupts import not_from_an_interrupt
from cli.render import printable
from cli.secrets import MaskSecrets

PROJECT_LOGGER = "appctl"


class WarningsToStderr(logging.StreamHandler[TextIO]):
    """Writes ``Warning: …`` lines to the current ``sys.stderr`` while no other handler logs the records."""

    def __init__(self) -> None:
        super().__init__()
        self.setLevel(logging.WARNING)
        self.setFormatter(logging.Formatter("%(message)s"))
        self.addFilter(lambda record: not logging.getLogger().handlers)  # logging's last-resort rule
        self.addFilter(not_from_an_interrupt)
        self.addFilter(MaskSecrets())

    @property
    def stream(self) -> TextIO:
        """``sys.stderr`` as it is when a record comes (a test may have replaced it)."""
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass

    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname.capitalize()}: {printable(super().format(record))}"


def log_warnings_to_stderr() -> None:
    """Give the ``appctl`` loggers their stderr handler (once, however often called)."""
    logger = logging.getLogger(PROJECT_LOGGER)
    if not any(isinstance(handler, WarningsToStderr) for handler in logger.handlers):
        logger.addHandler(WarningsToStderr())
        logging.getLogger("psycopg").addFilter(_not_a_cleanup_note)


def _not_a_cleanup_note(record: logging.LogRecord) -> bool:
    """False for psycopg's "error ignored terminating <Pipeline>": a pipeline that failed while the
    error that ended it propagated, the error appctl reports on its one line. Python's last-resort
    handler would print the note raw before it (a race of concurrent imports on PostgreSQL)."""
    return not str(record.msg).startswith("error ignored ")
