"""The message brokers' transports: kombu's, subclassed where a batch must be all in or all out.

- ``embedded``: kombu's SQLAlchemy transport (``sqla+`` URLs), with working options, redelivery of the
  jobs of dead workers and batches stored in one transaction (``embedded_batch``).
- ``redis_transactions``: kombu's Redis transport with each publish batch sent as one MULTI/EXEC.

Both subclass kombu's transports and override some of their methods; each override says which
kombu behaviour it replaces. Checked against kombu 5.7.0 (pyproject.toml pins ``kombu~=5.7.0``).
The transports are named here and imported by kombu only when a broker URL uses them.
"""

from __future__ import annotations

from kombu.transport import TRANSPORT_ALIASES

EMBEDDED_TRANSPORT = "project.broker.embedded:Transport"
REDIS_TRANSPORT = "project.broker.redis_transactions:Transport"  # a publish batch is one MULTI/EXEC


def register_transports() -> None:
    """Make ``sqla+…`` broker URLs use the embedded transport, ``redis://`` ones the transactional one.

    kombu looks a URL's scheme up in ``TRANSPORT_ALIASES`` and imports the transport by name when a
    connection first needs it (kombu 5.7.0, ``kombu.transport.resolve_transport``).
    """
    TRANSPORT_ALIASES["sqla"] = EMBEDDED_TRANSPORT
    TRANSPORT_ALIASES["sqlalchemy"] = EMBEDDED_TRANSPORT
    TRANSPORT_ALIASES["redis"] = REDIS_TRANSPORT
    TRANSPORT_ALIASES["rediss"] = REDIS_TRANSPORT
