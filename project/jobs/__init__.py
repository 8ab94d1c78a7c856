"""Background jobs: the task registry, dispatch and waiting for results."""
