"""Many jobs marked revoked at once in the result backend: what Celery's mark_as_revoked stores, per job."""

from __future__ import annotations

from typing import Any

from celery.result import AsyncResult

from project.celery_internals.revoked_results import store_revoked


def test_each_job_reads_revoked_and_a_stored_success_stays(app: Any) -> None:
    celery = app.extensions["celery"]
    backend = celery.backend
    backend.mark_as_done("done-1", 0.5)
    backend.mark_as_started("started-1")
    store_revoked(backend, ["done-1", "started-1", "never-stored-1"], "revoked")
    assert backend.get_task_meta("done-1")["status"] == "SUCCESS"
    for task_id in ("started-1", "never-stored-1"):
        result = AsyncResult(task_id, app=celery)
        assert (result.state, type(result.result).__name__, str(result.result)) == (
            "REVOKED",
            "TaskRevokedError",
            "revoked",
        )
