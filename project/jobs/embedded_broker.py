"""kombu's SQLAlchemy transport, fixed so ``polling_interval`` can be set.

kombu hands every transport option to ``create_engine``, so the virtual
transport's own ``polling_interval`` option makes SQLAlchemy raise a TypeError;
without it a job waits up to a second before a worker sees it.
"""

from __future__ import annotations

from typing import Any

from kombu.transport import TRANSPORT_ALIASES
from kombu.transport import sqlalchemy as kombu_sqla
from sqlalchemy import create_engine

# Options kombu itself reads; everything else is an engine option.
_TRANSPORT_OPTIONS = {
    "queue_tablename",
    "message_tablename",
    "callback",
    "errback",
    "max_retries",
    "interval_start",
    "interval_step",
    "interval_max",
    "retry_errors",
    "polling_interval",
}


class Channel(kombu_sqla.Channel):
    """A SQLAlchemy channel that keeps the transport's own options away from the engine."""

    def _engine_from_config(self) -> Any:
        client = self.connection.client
        options = {k: v for k, v in client.transport_options.items() if k not in _TRANSPORT_OPTIONS}
        return create_engine(client.hostname, **options)


class Transport(kombu_sqla.Transport):
    """The ``sqla+`` transport with a working ``polling_interval``."""

    Channel = Channel


def register_embedded_transport() -> None:
    """Make ``sqla+…`` broker URLs use this transport."""
    TRANSPORT_ALIASES["sqla"] = f"{__name__}:Transport"
    TRANSPORT_ALIASES["sqlalchemy"] = f"{__name__}:Transport"
