"""The job history: every job sent, started and finished, in the ``jobs`` table.

- ``models``: the tables; ``values``: states and row values (no SQLAlchemy).
- ``write``: the one writer interface the app registers; ``write_orm`` and ``write_driver`` implement it.
- ``buffer``: a worker process's rows, held and written in batches through the writer.
- ``read``: listing, finding and pruning; ``signals``: Celery's signals that feed the history.
"""
