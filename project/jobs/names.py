"""What a task id and a queue name may be: the checks every command and selection applies alike."""

from __future__ import annotations

from project.errors import InvalidInput

MAX_ID_LENGTH = 255  # the length of jobs.id


def check_task_id(task_id: str) -> None:
    """Raise InvalidInput unless ``task_id`` could be a task id (printable, no spaces)."""
    if not task_id or len(task_id) > MAX_ID_LENGTH or any(c.isspace() or not c.isprintable() for c in task_id):
        raise InvalidInput(f"{task_id!r} is not a task id")


def check_queue_name(queue: str | None) -> None:
    """Raise InvalidInput for a queue name no worker could be listening on (empty, spaces, controls)."""
    if queue is not None and (not queue or any(c.isspace() or not c.isprintable() for c in queue)):
        raise InvalidInput(f"queue name {queue!r} must be non-empty, without spaces or control characters")
