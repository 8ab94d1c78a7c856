"""Whether a broker carries Celery's broadcast messages (remote control: revoke, ping, inspect).

Checked against kombu 5.7.0: its virtual transports say so with ``Channel.supports_fanout``
(False for the SQLAlchemy transport of the embedded broker, True for Redis); the others (py-amqp)
have no such attribute and carry broadcasts. No connection is opened to find out.
"""

from __future__ import annotations

from typing import Any

_known: dict[int, bool] = {}


def carries_broadcast(celery: Any) -> bool:
    """Whether ``celery``'s broker carries broadcasts (asked once per Celery app and process)."""
    known = _known.get(id(celery))
    if known is None:
        with celery.connection_for_write() as connection:
            channel_class = getattr(connection.transport, "Channel", None)  # virtual transports only
            known = _known[id(celery)] = bool(getattr(channel_class, "supports_fanout", True))
    return known
