"""What a task id, a queue name and free text may be: the checks every command and selection applies alike."""

from __future__ import annotations

from project.errors import InvalidInput

MAX_ID_LENGTH = 255  # the length of jobs.id


def check_task_id(task_id: str) -> None:
    """Raise InvalidInput unless ``task_id`` could be a task id: 1 to 255 printable characters.

    Celery takes any string; one a client outside appctl chose (``my id/äöü``) is printable, spaces
    included. Tabs, line ends, other controls and undecodable bytes would break the one-a-line output.
    """
    if not task_id or len(task_id) > MAX_ID_LENGTH or not task_id.isprintable():
        raise InvalidInput(f"{task_id!r} is not a task id")


def check_queue_name(queue: str | None) -> None:
    """Raise InvalidInput for a queue name no worker could be listening on (empty, spaces, controls)."""
    if queue is not None and (not queue or any(c.isspace() or not c.isprintable() for c in queue)):
        raise InvalidInput(f"queue name {queue!r} must be non-empty, without spaces or control characters")


def check_text(value: str, what: str) -> None:
    """Raise InvalidInput when ``value`` holds bytes that are not UTF-8 (read from argv as lone surrogates)."""
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            typed = repr(value.encode("utf-8", "surrogateescape"))[1:]  # the bytes as given: '\xff', not '\udcff'
            raise InvalidInput(f"{what} {typed} is not UTF-8 text") from None
