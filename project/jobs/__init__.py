"""Background jobs: the task registry, sending, the job history, results, revokes, health and the worker."""
