"""Celery's Redis result backend with its reads retried like its writes (imported only for ``redis://``).

Checked against Celery 5.7.0: before it stores a state, ``BaseKeyValueStoreBackend._store_result``
reads the stored one (``_get_task_meta_for`` → ``RedisBackend.get``), so that a late update never
overwrites a SUCCESS. The write (``RedisBackend.set``) goes through ``ensure``, the retry policy of
``result_backend_transport_options``; the read is a bare ``client.get``, retried only under
``result_backend_always_retry`` (off). So a backend paused or restarted while jobs finished made
the read fail and turned finished jobs into FAILURE (the failure itself is stored by the same path),
for ``mark_as_started``, ``mark_as_done``, ``mark_as_failure``, ``mark_as_retry`` and ``mark_as_revoked`` alike.
Here every ``get`` goes through ``ensure`` with the same policy: a worker retries it as patiently as
its writes (project/celery_internals/backend_retries.py), a client (``max_retries`` 0) still reads once.
"""

from __future__ import annotations

from typing import Any

from celery.backends.redis import RedisBackend, SentinelBackend


class RetryingRedisBackend(RedisBackend):
    """``redis://`` and ``rediss://`` results: reads retried under the backend's retry policy."""

    def get(self, key: str) -> Any:
        """Read ``key``, retried on connection errors as ``set`` is (Celery 5.7.0 reads it once)."""
        return self.ensure(super().get, (key,))


class RetryingSentinelBackend(SentinelBackend):
    """``sentinel://`` results: reads retried under the backend's retry policy."""

    def get(self, key: str) -> Any:
        """Read ``key``, retried on connection errors as ``set`` is (Celery 5.7.0 reads it once)."""
        return self.ensure(super().get, (key,))
