"""The job history: every job sent, started and finished, in the ``jobs`` table.

- ``models``: the tables; ``values``: states and row values (no SQLAlchemy).
- ``write``: the one writer interface the app registers; ``write_orm`` and ``write_driver`` implement it.
- ``buffer``: a worker process's rows, held and written in batches through the writer.
- ``select``: JobFilter, the one selection of every listing and bulk action, counted and read in chunks.
- ``read``: listing and finding; ``prune``: deleting; ``signals``: Celery's signals that feed the history.
"""
