"""Storing REVOKED results for many jobs at once, as Celery's revoke stores one.

Celery 5.7.0's ``Backend.mark_as_revoked(task_id, reason)`` stores a ``TaskRevokedError(reason)``
result per job, one write (and on Redis one read first) at a time. The same results are stored
here; Celery's own call is used for every backend. Checked against Celery 5.7.0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def store_revoked(backend: Any, task_ids: Sequence[str], reason: str) -> None:
    """Store the REVOKED state, with ``reason``, for each of ``task_ids``."""
    for task_id in task_ids:
        backend.mark_as_revoked(task_id, reason)
