"""Batched publishing for the embedded broker: kombu's ``Producer.batch`` stores a batch in one transaction.

kombu 5.7.0's ``Producer.batch`` asks the channel for ``create_publish_batch(max_size)`` and calls
``publish``, ``flush``, ``discard`` and ``close`` on what it gets (checked against kombu 5.7.0).

kombu's SQLAlchemy transport looks the queue up and commits once per message; inside a batch the
messages are kept here and written with one multi-row insert and one commit, as kombu's Redis
transport sends a batch in one pipeline.
"""

from __future__ import annotations

from typing import Any

from kombu.utils.json import dumps
from sqlalchemy import insert


class PublishBatch:
    """The session object kombu's ``Producer.batch`` expects from a channel's ``create_publish_batch``."""

    def __init__(self, channel: Any, max_size: int) -> None:
        self.channel = channel
        self.max_size = max_size
        self.rows: list[tuple[str, str]] = []

    def publish(self, message: dict[str, Any], **kwargs: Any) -> None:
        """Route ``message`` as kombu does; the channel hands the result to ``add``."""
        self.channel.basic_publish(message, _publish_batch=self, **kwargs)
        if len(self.rows) >= self.max_size:
            self.flush()

    def add(self, queue: str, payload: dict[str, Any]) -> None:
        """Keep one routed message for ``queue`` until the batch is flushed."""
        self.rows.append((queue, dumps(payload)))

    def flush(self) -> None:
        """Store the kept messages in one transaction."""
        if not self.rows:
            return
        channel = self.channel
        queue_ids = {name: channel._get_or_create(name).id for name in {queue for queue, _ in self.rows}}
        values = [
            {"queue_id": queue_ids[queue], "payload": payload, "visible": True, "version": 1}
            for queue, payload in self.rows
        ]
        try:
            channel.session.execute(insert(channel.message_cls.__table__), values)
            channel.session.commit()
        except Exception:
            channel.session.rollback()
            raise
        self.rows.clear()

    def discard(self) -> None:
        """Forget the messages not stored yet."""
        self.rows.clear()

    def close(self) -> None:
        """Nothing to release: the channel owns the session."""
        self.rows.clear()
