"""Retrying jobs from the history: each sent again with its task, arguments and queue, linked both ways.

The new job's row names the job it retries (``retry_of``) and the old row names its retry
(``retried_by``). Every id is checked before anything is sent, so a bad one sends nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from itertools import groupby
from typing import Any

from sqlalchemy import RowMapping, bindparam, select, update

from project.errors import RETRY_ANYWAY, Conflict, InvalidInput
from project.extensions import db
from project.interrupts import interrupts_held
from project.jobs.history.models import jobs
from project.jobs.history.read import never_sent
from project.jobs.history.select import JobFilter, count_jobs
from project.jobs.history.values import FINISHED_STATES, LIVE_STATES, is_truncated, sent_row, utcnow
from project.jobs.history.write import history_guard, record_sent_rows
from project.jobs.publisher import SEND_BATCH_SIZE, JobToSend, SentJob
from project.jobs.registry import ArgumentChecker, resolve_task
from project.jobs.results import check_task_id, job_state
from project.jobs.revoke import revoke_jobs
from project.jobs.send import SendOptions, publishing

RETRY_FIELDS = ("id", "retry_of", "name", "queue", "state", "eta", "expires")
RUN_NOW_REASON = "run now"  # jobs.revoked_reason of a scheduled job replaced by a copy sent at once
_RUN_NOW_HINT = "only a job waiting for its eta can be run now; a finished one can be retried"
_READ_CHUNK = 500  # ids per query: well under every database's limit on bound parameters


def retry_jobs(ids: Sequence[str], force: bool = False, keep_schedule: bool = False) -> list[dict[str, Any]]:
    """Send each job of ``ids`` again; one record per job (RETRY_FIELDS), in the order given.

    NotFound for an id the history does not hold or a task no longer registered, Conflict for a job
    not finished (unless ``force``), InvalidInput for one whose arguments the history could not keep
    whole or that no longer fit the task; then nothing is sent.
    ``keep_schedule``: the copy keeps the original's eta and expiry, else it runs as soon as it can.
    """
    rows = _history_rows(ids)
    if not force:
        _refuse_unfinished(rows)
    return send_copies(rows, keep_eta=keep_schedule, keep_expires=keep_schedule)


def refuse_unfinished_selection(job_filter: JobFilter) -> None:
    """Conflict when ``job_filter`` selects jobs not finished yet: retried by a filter, they would run twice."""
    live = tuple(state for state in (job_filter.states or LIVE_STATES) if state in LIVE_STATES)
    count = count_jobs(replace(job_filter, states=live)) if live else 0
    if count:
        raise Conflict(f"{count} of the selected jobs are not finished, so none is retried", remedy=RETRY_ANYWAY)


def _history_rows(ids: Sequence[str]) -> list[RowMapping]:
    """The history rows of ``ids`` (duplicates once, in the order given); NotFound names the missing."""
    wanted = list(dict.fromkeys(ids))
    for task_id in wanted:
        check_task_id(task_id)
    found: dict[str, RowMapping] = {}
    with db.engine.connect() as conn:
        for start in range(0, len(wanted), _READ_CHUNK):
            chunk = wanted[start : start + _READ_CHUNK]
            found.update((row["id"], row) for row in conn.execute(select(jobs).where(jobs.c.id.in_(chunk))).mappings())
    missing = [task_id for task_id in wanted if task_id not in found]
    if missing:
        raise never_sent(*missing)
    rows = [found[task_id] for task_id in wanted]
    for row in rows:
        _check_retryable(row)
    return rows


def _check_retryable(row: RowMapping) -> None:
    """InvalidInput unless the history holds the job's task and whole arguments."""
    if row["name"] is None or row["args"] is None:
        raise InvalidInput(f"job {row['id']} cannot be sent again: the history does not hold its task and arguments")
    for what in ("args", "kwargs"):
        if is_truncated(row[what]):
            size = row[what]["bytes"]
            raise InvalidInput(
                f"job {row['id']} cannot be sent again: its {what} ({size} bytes of JSON) were too large "
                "for the history, which kept only their start"
            )


def _refuse_unfinished(rows: Sequence[RowMapping]) -> None:
    """Conflict naming the jobs still waiting or running: a copy would run them twice.

    The result backend hears of a finished job before the history does: a job the history still
    shows unfinished is read there too (``result wait ID`` then ``task retry ID`` must work).
    """
    live = [row for row in rows if row["state"] in LIVE_STATES and job_state(row["id"])["state"] not in FINISHED_STATES]
    if live:
        named = ", ".join(f"{row['id']} ({row['state']})" for row in live[:3])
        more = f" and {len(live) - 3} more" if len(live) > 3 else ""
        raise Conflict(f"not finished, so not retried: {named}{more}", remedy=RETRY_ANYWAY)


def send_copies(rows: Sequence[RowMapping], keep_eta: bool, keep_expires: bool) -> list[dict[str, Any]]:
    """Send a copy of each history row (its task, arguments and queue) and link the two rows.

    Rows of one task, queue and schedule go out in batches over one producer; the history records
    each batch once the broker has it.
    """
    checkers: dict[str, ArgumentChecker] = {}
    for row in rows:  # every task resolved and every job checked before anything is sent
        checker = checkers.setdefault(row["name"], ArgumentChecker(resolve_task(row["name"])))
        try:
            checker.check(tuple(row["args"]), dict(row["kwargs"] or {}))
        except InvalidInput as exc:
            raise InvalidInput(f"job {row['id']} cannot be sent again: {exc.message}") from None
    new_ids: dict[str, dict[str, Any]] = {}
    for options, group in _groups(rows, keep_eta, keep_expires):
        task = checkers[group[0]["name"]].task
        with publishing(task, options) as publisher:
            for start in range(0, len(group), SEND_BATCH_SIZE):
                batch = group[start : start + SEND_BATCH_SIZE]
                to_send = [JobToSend(tuple(row["args"]), dict(row["kwargs"] or {})) for row in batch]
                with interrupts_held():
                    sent = publisher.publish(to_send)
                    copies = [_copy_row(new, row["id"]) for new, row in zip(sent, batch, strict=True)]
                    record_sent_rows(copies)
                    _link(copies)
                new_ids.update((copy["retry_of"], copy) for copy in copies)
    return [_record(new_ids[row["id"]]) for row in rows]


def _groups(
    rows: Sequence[RowMapping], keep_eta: bool, keep_expires: bool
) -> Iterator[tuple[SendOptions, list[RowMapping]]]:
    """The rows grouped by what one publisher sends alike: task, queue, eta and expiry."""

    def options(row: RowMapping) -> tuple[str, str | None, datetime | None, datetime | None]:
        eta = row["eta"] if keep_eta else None
        return row["name"], row["queue"], eta, row["expires"] if keep_expires else None

    ordered = sorted(rows, key=lambda row: tuple(str(part) for part in options(row)))
    for (_, queue, eta, expires), group in groupby(ordered, key=options):
        yield SendOptions(eta=eta, expires=expires, queue=queue), list(group)


def _copy_row(new: SentJob, old_id: str) -> dict[str, Any]:
    """The history row of ``new``, the copy of job ``old_id``."""
    args, kwargs = list(new.args), new.kwargs
    return sent_row(new.id, new.name, args, kwargs, new.queue, eta=new.eta, expires=new.expires, retry_of=old_id)


def _link(copies: Sequence[dict[str, Any]]) -> None:
    """Mark each original row as retried by its copy, in one statement.

    The broker has the copies already: a history that cannot be written is a warning, as for a send,
    never an error that would say nothing was sent (and, inside the publisher, blame the broker).
    """
    if copies:
        statement = update(jobs).where(jobs.c.id == bindparam("old")).values(retried_by=bindparam("new"))
        with history_guard("retry", [copy["retry_of"] for copy in copies]), db.engine.begin() as conn:
            conn.execute(statement, [{"old": copy["retry_of"], "new": copy["id"]} for copy in copies])


def _record(copy: dict[str, Any]) -> dict[str, Any]:
    """The plain record of a copy sent: times as ISO 8601 UTC."""
    record = {name: copy.get(name) for name in RETRY_FIELDS}
    for name in ("eta", "expires"):
        moment: datetime | None = copy[name]
        record[name] = moment.isoformat() if moment is not None else None
    return record


def run_now(task_id: str) -> dict[str, Any]:
    """Run a job waiting for its eta now: revoke it and send a copy without the eta (its expiry kept).

    The copy is linked to the job as a retry is. Conflict when the job is not waiting for a time
    (finished, running, or due already); then nothing changes. The copy goes out before the job is
    revoked, so a broker that fails (ServiceUnavailable) leaves the job scheduled, never revoked with
    no copy sent; a job that starts meanwhile keeps running and its copy is revoked (Conflict).
    """
    [row] = _history_rows([task_id])
    if row["state"] not in LIVE_STATES or row["state"] == "STARTED":
        raise Conflict(f"job {task_id} is not waiting to run: it is {row['state']}", hint=_RUN_NOW_HINT)
    if row["eta"] is None or row["eta"] <= utcnow():
        due = "has no eta" if row["eta"] is None else f"was due at {row['eta'].isoformat()}"
        raise Conflict(f"job {task_id} is not scheduled for later: it {due}", hint=_RUN_NOW_HINT)
    with interrupts_held():  # a copy sent and its job left scheduled would run twice
        [copy] = send_copies([row], keep_eta=False, keep_expires=True)
        [revoked] = revoke_jobs([task_id])
        if revoked["outcome"] != "revoked":
            revoke_jobs([copy["id"]])
            raise Conflict(
                f"job {task_id} started before it could be revoked: it runs now ({revoked['outcome']}); "
                f"its copy {copy['id']} was revoked"
            )
        with db.engine.begin() as conn:
            conn.execute(update(jobs).where(jobs.c.id == task_id).values(revoked_reason=RUN_NOW_REASON))
    return copy
