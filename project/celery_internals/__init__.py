"""Where appctl leans on Celery's internals, gathered and named as such.

Each module overrides or copies something Celery does not offer as an API; each override says
which upstream behaviour it replaces. Checked against Celery 5.7.0 and kombu 5.7.0 (pyproject.toml
pins ``~=5.7.0``): on an upgrade, reread the named upstream code and rerun tests/celery_internals/.

- ``messages``: task messages built as ``apply_async`` builds them, fast enough for bulk sends.
- ``backend_retries``, ``redis_backend``: the result backend's retries, in clients and in workers.
- ``revoked_results``: many jobs stored REVOKED in the result backend at once (one Redis pipeline,
  one database transaction).
- ``worker_command``: Celery's ``worker`` command run in this process, named ``appctl``.
- ``broadcast``: whether a broker carries Celery's broadcasts (kombu's ``Channel.supports_fanout``).
- ``heartbeat_events``: the worker's heartbeat events sent once each, not retried for ever while
  the broker is silent (which held up a warm shutdown until the broker answered).

kombu's transports, subclassed, are in project/broker/.
"""
