"""Passwords never reach the terminal: error lines, tracebacks, log records, warnings, worker output.

What is masked is every piece of the configured URLs' passwords (project/urls.py), not only the
URLs appctl formats: a driver that reads a URL its own way echoes pieces of the password back.
"""

from __future__ import annotations

import io
import logging
import os
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO


def mask_configured_secrets(text: str) -> str:
    """``text`` without the passwords of the service URLs in the environment, nor any piece of them."""
    from project.config import service_urls
    from project.urls import mask_secrets

    return mask_secrets(text, service_urls(os.environ))


class MaskSecrets(logging.Filter):
    """A handler filter that masks the message, the traceback and the stack of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = mask_configured_secrets(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_configured_secrets(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_configured_secrets(record.stack_info)
        return True


def mask_handlers(logger: logging.Logger, **_: Any) -> None:
    """Mask secrets in everything ``logger``'s handlers write (also a Celery ``after_setup_*logger`` receiver)."""
    for handler in logger.handlers:
        if not any(isinstance(f, MaskSecrets) for f in handler.filters):
            handler.addFilter(MaskSecrets())


def _show_masked_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    stream = file or sys.stderr
    if stream is not None:
        stream.write(mask_configured_secrets(warnings.formatwarning(message, category, filename, lineno, line)))


def mask_logs_and_warnings() -> None:
    """Mask secrets in the log records and warnings of a command (Python's last-resort handler prints them)."""
    if logging.lastResort is not None and not any(isinstance(f, MaskSecrets) for f in logging.lastResort.filters):
        logging.lastResort.addFilter(MaskSecrets())
    warnings.showwarning = _show_masked_warning
    mask_handlers(logging.getLogger())


class MaskedStream(io.TextIOBase):
    """A text stream that writes masked lines to ``stream`` (a partial line waits for its end, or a flush)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._pending = ""
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        """Buffer ``text``; write every line it completes, masked."""
        with self._lock:
            lines, newline, self._pending = (self._pending + text).rpartition("\n")
            if newline:
                self._stream.write(mask_configured_secrets(lines + newline))
        return len(text)

    def flush(self) -> None:
        """Write the partial line too, masked, and flush the stream."""
        with self._lock:
            pending, self._pending = self._pending, ""
            if pending:
                self._stream.write(mask_configured_secrets(pending))
        self._stream.flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._stream.encoding


@contextmanager
def masked_standard_streams() -> Iterator[None]:
    """Mask stdout and stderr, ``sys.__stdout__`` and ``sys.__stderr__`` too (Celery's banner and logs use them)."""
    saved = (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)
    masked = {id(stream): MaskedStream(stream) for stream in saved if stream is not None}
    sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__ = (  # type: ignore[misc,assignment]
        masked[id(stream)] if stream is not None else None for stream in saved
    )
    try:
        yield
    finally:
        for stream in masked.values():
            stream.flush()
        sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__ = saved  # type: ignore[misc]
