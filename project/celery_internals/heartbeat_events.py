"""The worker's heartbeat events published without retrying for ever (Celery 5.7.0, kombu 5.7.0).

Upstream, ``celery.worker.heartbeat.Heart`` publishes ``worker-heartbeat`` with ``retry=True`` and
no retry policy, so kombu's ``Connection.ensure`` retries without end, in the worker's main thread,
while the broker does not answer (a paused Redis, a RabbitMQ behind a dead link). A warm shutdown
(SIGTERM, Ctrl-C) then waits behind it until the broker answers again: the worker never stops.
Here each heartbeat is one attempt, bounded by the broker's socket timeout; one that fails is logged
by the worker's timer, and the next comes at the next interval, as upstream's ``worker-offline``
already is. The consumer's Heart step builds ``celery.worker.heartbeat.Heart`` when it starts, so
``install`` replaces that name before the worker's consumer starts.
"""

from __future__ import annotations

from typing import Any

from celery.worker import heartbeat


class OneAttemptHeart(heartbeat.Heart):
    """Celery's Heart, each event published once (upstream: retried for ever while the broker is silent)."""

    def _send(self, event: str, retry: bool = True) -> Any:
        return super()._send(event, retry=False)


def install() -> None:
    """Make every worker heartbeat of this process one attempt (see the module's docstring)."""
    heartbeat.Heart = OneAttemptHeart
