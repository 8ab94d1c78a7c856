"""Reading job states and waiting, with a bound, for their results.

The result backend is the truth about a job's outcome; the job history may trail it (a worker
writes its rows in batches, and a worker killed with SIGKILL never writes its last one). Every
reader here that finds the history showing unfinished a job the backend knows finished shows
the backend's outcome and writes it into the history.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

from celery.exceptions import TimeoutError as CeleryTimeoutError
from celery.result import AsyncResult
from flask import current_app

from project.errors import JobFailed, NotFound, ServiceUnavailable, TimedOut
from project.failures import connection_error_types, service_errors
from project.jobs.history.read import FIELDS, find_job, known_job, list_history, never_sent
from project.jobs.history.select import JobFilter
from project.jobs.history.values import FINISHED_STATES, LIVE_STATES, backend_outcome, progress_row
from project.jobs.history.write import current_writer, history_guard
from project.jobs.names import check_task_id
from project.jobs.registry import current_celery

POLL_INTERVAL = 0.02
MAX_POLL_INTERVAL = 0.25
NOTICE_CHECK = 1.0  # seconds between direct reads of a job while waiting for its notification
MAX_LOOKUPS = 1000  # result backend reads per history listing; unfinished rows further down show as recorded
logger = logging.getLogger("appctl.history")


BACKEND_FIELDS = ("id", "name", "state", "result", "error", "finished_at", "worker", "retries")  # of job_state


def job_state(task_id: str) -> dict[str, Any]:
    """The job's state as plain data: ``{id, name, state, result, error, finished_at, worker, retries}``."""
    with service_errors("result backend", current_app.config["CELERY_RESULT_BACKEND"]):
        result = AsyncResult(task_id, app=current_celery())  # builds the backend: it may connect
        meta = result._get_task_meta()  # one backend read for every field below
    state = meta["status"]
    value = meta.get("result")
    error = None
    if state in ("FAILURE", "REVOKED", "RETRY"):
        exc = result.backend.exception_to_python(value) if isinstance(value, dict) else value
        error = f"{type(exc).__name__}: {exc}" if exc is not None else state
        value = None
    return {
        "id": task_id,
        "name": meta.get("name"),
        "state": state,
        "result": value if state == "SUCCESS" else None,
        "error": error,
        "finished_at": utc_iso(meta.get("date_done")),
        "worker": meta.get("worker"),
        "retries": meta.get("retries"),  # extended results only
    }


def job_status(task_id: str) -> dict[str, Any]:
    """The job as the history records it, completed by the result backend; does not wait."""
    check_task_id(task_id)
    record = find_job(task_id)
    if record is not None and record["state"] in FINISHED_STATES:
        return record
    try:
        backend = job_state(task_id)
    except ServiceUnavailable as exc:
        if record is None:  # nothing to show: neither can tell
            raise
        logger.warning("job %s is shown as the history has it: %s", task_id, exc.message)  # as task history does
        return record
    if record is None:
        if backend["state"] == "PENDING":
            raise never_sent(task_id)
        return {**dict.fromkeys(FIELDS), **backend}  # sent from outside the app: the backend's view
    if backend["state"] != "PENDING":  # the backend is ahead: the history has not caught up
        catch_up_history([(record, backend)])
        record.update({key: value for key, value in backend.items() if value is not None})
    return record


def reconciled_history(
    selection: JobFilter | None = None, limit: int | None = 100, scheduled: bool = False, schedule: str | None = None
) -> Iterator[dict[str, Any]]:
    """``list_history``, each unfinished job completed by the result backend (at most MAX_LOOKUPS reads)."""
    return reconciled(list_history(selection, limit, scheduled=scheduled, schedule=schedule))


def reconciled(records: Iterable[dict[str, Any]], lookups: int = MAX_LOOKUPS) -> Iterator[dict[str, Any]]:
    """History ``records`` as they come, each unfinished one completed by the result backend (at most
    ``lookups`` reads); the outcomes found are written into the history once the records are out.
    A result backend that cannot be reached leaves the records as the history has them (a warning)."""
    behind: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for record in records:
        if record["state"] in LIVE_STATES and lookups > 0:
            lookups -= 1
            try:
                backend = job_state(record["id"])
            except ServiceUnavailable as exc:
                logger.warning("unfinished jobs are shown as the history has them: %s", exc.message)
                lookups = 0
            else:
                if backend["state"] != "PENDING":
                    behind.append((dict(record), backend))
                    record = {**record, **{key: value for key, value in backend.items() if value is not None}}
        yield record
    catch_up_history(behind)


def catch_up_history(pairs: Iterable[tuple[dict[str, Any] | None, dict[str, Any]]]) -> None:
    """Write the backend's finished outcome of each job whose history ``record`` is still unfinished
    (None: read it); a job the history has finished in the meantime keeps its row. Warns on failure."""
    pairs = list(pairs)
    if not pairs:
        return
    with history_guard("outcome", [backend["id"] for _, backend in pairs]):
        rows = []
        for record, backend in pairs:
            record = record if record is not None else find_job(backend["id"])
            if record is not None and record["state"] in LIVE_STATES and backend["state"] in FINISHED_STATES:
                rows.append(outcome_row(record, backend))
        current_writer().record_progress(rows, behind_only=True)


def outcome_row(record: dict[str, Any], backend: dict[str, Any]) -> dict[str, Any]:
    """The history row of a finished job as the result backend (``job_state``) reports it."""
    fields = {**backend_outcome(backend), "worker": backend["worker"]}
    retries = max(record.get("retries") or 0, backend["retries"] or 0)
    return progress_row(record["id"], backend["state"], retries, fields)


def job_statuses(task_ids: list[str]) -> tuple[list[dict[str, Any]], NotFound | None]:
    """The status of each known job, and an error naming the ids never sent (None when all are known)."""
    records, unknown = [], []
    for task_id in dict.fromkeys(task_ids):  # an id given twice: once
        try:
            records.append(job_status(task_id))
        except NotFound:
            unknown.append(task_id)
    return records, never_sent(*unknown) if unknown else None


def _poll(task_id: str, known: set[str]) -> dict[str, Any]:
    """One read of the job's state; NotFound at once when neither history nor backend knows the id."""
    state = job_state(task_id)
    if state["state"] == "PENDING" and task_id not in known:
        remembered = outcome_remembered(task_id)
        if remembered is not None:
            return remembered
        known.add(task_id)
    return state


def outcome_remembered(task_id: str) -> dict[str, Any] | None:
    """For a job the result backend calls PENDING: its outcome when the history has it finished (the
    backend forgot it: results expire, after a day unless ``result_expires`` says), else None;
    NotFound when the history never had it either."""
    record = known_job(task_id)
    if record is None:
        raise never_sent(task_id)
    if record.get("state") not in FINISHED_STATES:
        return None
    return {key: record.get(key) for key in BACKEND_FIELDS}


def wait_for_results(task_ids: Iterable[str], timeout: float) -> list[dict[str, Any]]:
    """Wait until every job has finished or ``timeout`` seconds pass (TimedOut)."""
    ids = list(dict.fromkeys(task_ids))  # an id given twice: once
    for task_id in ids:
        check_task_id(task_id)
    deadline = time.monotonic() + timeout
    if backend_notifies():
        states = [wait_for_notice(task_id, deadline, timeout) for task_id in ids]
    else:
        states = _poll_until_finished(ids, deadline, timeout)
    catch_up_history((None, state) for state in states)
    return states


def _poll_until_finished(ids: list[str], deadline: float, timeout: float) -> list[dict[str, Any]]:
    """The finished state of each job, read until all are finished or the deadline passes (TimedOut)."""
    finished: dict[str, dict[str, Any]] = {}
    known: set[str] = set()
    interval = POLL_INTERVAL
    while True:
        for task_id in ids:
            if task_id not in finished:
                state = _poll(task_id, known)
                if state["state"] in FINISHED_STATES:
                    finished[task_id] = state
        if len(finished) == len(ids):
            return [finished[task_id] for task_id in ids]
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            waiting = [task_id for task_id in ids if task_id not in finished]
            raise TimedOut(f"timed out after {timeout:g}s waiting for {', '.join(waiting)}")
        time.sleep(min(interval, remaining))
        interval = min(interval * 1.5, MAX_POLL_INTERVAL)


def backend_notifies() -> bool:
    """True when the result backend announces results (Redis, RPC), so waiting needs no polling."""
    with service_errors("result backend", current_app.config["CELERY_RESULT_BACKEND"]):
        return bool(current_celery().backend.is_async)  # builds the backend: it may connect


def wait_for_notice(task_id: str, deadline: float, timeout: float) -> dict[str, Any]:
    """The job's finished state, waited for with the result backend's own notifications.

    Every NOTICE_CHECK seconds the job is also read directly: a backend that died or went silent
    during the wait fails that read within its socket timeout (exit 69), where the notification
    channel alone would wait, unaware, until ``timeout``.
    """
    state = job_state(task_id)
    if state["state"] == "PENDING" and (remembered := outcome_remembered(task_id)) is not None:
        return remembered
    result = AsyncResult(task_id, app=current_celery())
    try:
        while state["state"] not in FINISHED_STATES:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimedOut(f"timed out after {timeout:g}s waiting for {task_id}")
            backend_url = current_app.config["CELERY_RESULT_BACKEND"]
            with service_errors("result backend", backend_url), suppress(CeleryTimeoutError):
                result.get(timeout=min(remaining, NOTICE_CHECK), propagate=False, interval=POLL_INTERVAL)
            state = job_state(task_id)
    finally:
        stop_listening(result)
    return state


def stop_listening(result: AsyncResult) -> None:
    """Unsubscribe from the job's notifications now, and quietly: the command's outcome is decided,
    and left to garbage collection a lost backend prints a traceback ("Exception ignored in …")."""
    with suppress(RuntimeError, *connection_error_types()):
        result.backend.remove_pending_result(result)
    result.backend = None  # nothing left for AsyncResult.__del__ to do


def require_success(states: Iterable[dict[str, Any]]) -> None:
    """Raise JobFailed naming the first job that failed or was revoked."""
    for state in states:
        if state["state"] != "SUCCESS":
            raise JobFailed(f"task {state['id']} {state['state'].lower()}: {state['error']}")


def utc_iso(moment: datetime | str | None) -> str | None:
    """A result backend's ``date_done`` as ISO 8601 with its zone, as the job history prints times.

    Celery stores it in UTC without a zone (a naive datetime in the database backend, its
    ``isoformat()`` string in Redis); read without one it would pass for local time.
    """
    if moment is None:
        return None
    parsed = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).isoformat()
