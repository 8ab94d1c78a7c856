"""Retrying jobs from the history: each sent again with its task, arguments and queue, linked both ways.

The new job's row names the job it retries (``retry_of``) and the old row names its retry
(``retried_by``). Every id is checked before anything is sent, so a bad one sends nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from itertools import groupby
from typing import Any

from sqlalchemy import RowMapping, bindparam, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

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

logger = logging.getLogger("appctl.retry")

RETRY_FIELDS = ("id", "retry_of", "name", "queue", "state", "eta", "expires")
RUN_NOW_REASON = "run now"  # jobs.revoked_reason of a scheduled job replaced by a copy sent at once
_RUN_NOW_HINT = "only a job waiting for its eta can be run now; a finished one can be retried"
_READ_CHUNK = 500  # ids per query: well under every database's limit on bound parameters


def retry_jobs(ids: Sequence[str], force: bool = False, keep_schedule: bool = False) -> list[dict[str, Any]]:
    """Send each job of ``ids`` again; one record per job (RETRY_FIELDS), in the order given (``retry_batches``)."""
    return [copy for batch in retry_batches(ids, force, keep_schedule) for copy in batch]


def retry_batches(
    ids: Sequence[str], force: bool = False, keep_schedule: bool = False
) -> Iterator[list[dict[str, Any]]]:
    """Check every job of ``ids``, then return an iterator that sends them again a batch at a time,
    in the order given, yielding each batch's records (RETRY_FIELDS) as the broker has it (``send_copies``).

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


def send_copies(
    rows: Sequence[RowMapping], keep_eta: bool, keep_expires: bool, take_keys: bool = True
) -> Iterator[list[dict[str, Any]]]:
    """Send a copy of each history row (its task, arguments and queue) and link the two rows.

    Every task is resolved and every job checked here, before anything is sent (InvalidInput,
    NotFound); the iterator returned then sends the rows a batch at a time, in the order given, and
    yields each batch's records (RETRY_FIELDS) once the broker has them and the history recorded them.
    ``take_keys``: each copy takes its original's unique key where it can (``pass_keys``).
    """
    checkers: dict[str, ArgumentChecker] = {}
    for row in rows:
        checker = checkers.setdefault(row["name"], ArgumentChecker(resolve_task(row["name"])))
        try:
            checker.check(tuple(row["args"]), dict(row["kwargs"] or {}))
        except InvalidInput as exc:
            raise InvalidInput(f"job {row['id']} cannot be sent again: {exc.message}") from None
    return _copies_sent(rows, checkers, keep_eta, keep_expires, take_keys)


def _copies_sent(
    rows: Sequence[RowMapping],
    checkers: dict[str, ArgumentChecker],
    keep_eta: bool,
    keep_expires: bool,
    take_keys: bool,
) -> Iterator[list[dict[str, Any]]]:
    """Each batch is sent, recorded and handed out with Ctrl-C held: one that comes meanwhile is
    raised when the consumer asks for the next batch, so a consumer that prints each batch has
    printed every copy sent (rows of one task, queue and schedule share a publisher within a batch)."""
    for start in range(0, len(rows), SEND_BATCH_SIZE):
        batch = rows[start : start + SEND_BATCH_SIZE]
        with interrupts_held():
            copies: dict[str, dict[str, Any]] = {}
            for options, group in _groups(batch, keep_eta, keep_expires):
                with publishing(checkers[group[0]["name"]].task, options) as publisher:
                    sent = publisher.publish([JobToSend(tuple(r["args"]), dict(r["kwargs"] or {})) for r in group])
                made = [_copy_row(new, row["id"]) for new, row in zip(sent, group, strict=True)]
                record_sent_rows(made)
                _link(made)
                if take_keys:
                    pass_keys(group, made)
                copies.update((copy["retry_of"], copy) for copy in made)
            yield [_record(copies[row["id"]]) for row in batch]


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
        [[copy]] = send_copies([row], keep_eta=False, keep_expires=True, take_keys=False)
        key = row["unique_key"]
        if key is not None:  # the copy holds the key before the job lets it go: no unique send slips in
            _move_key(key, task_id, copy["id"])
        [revoked] = revoke_jobs([task_id])
        if revoked["outcome"] != "revoked":
            if key is not None:
                _move_key(key, copy["id"], task_id)
            revoke_jobs([copy["id"]])
            raise Conflict(
                f"job {task_id} started before it could be revoked: it runs now ({revoked['outcome']}); "
                f"its copy {copy['id']} was revoked"
            )
        with db.engine.begin() as conn:  # revoked, the job no longer takes part in the unique index: its key is kept
            values = {"revoked_reason": RUN_NOW_REASON, "unique_key": key}
            conn.execute(update(jobs).where(jobs.c.id == task_id).values(**values))
    return copy


def _move_key(key: str, from_id: str, to_id: str) -> None:
    """Give the unique ``key`` of job ``from_id`` to job ``to_id`` in one transaction: never both, never neither.

    The partial unique index admits one live holder, so the key is cleared first, then set; another
    process's claim of the key waits for the transaction and then finds it held.
    """
    with history_guard("unique key", [from_id, to_id]), db.engine.begin() as conn:
        conn.execute(update(jobs).where(jobs.c.id == from_id).values(unique_key=None))
        if not conn.execute(update(jobs).where(jobs.c.id == to_id).values(unique_key=key)).rowcount:
            raise RuntimeError(f"job {to_id} has no history row")  # rolled back: the key stays where it was


def pass_keys(originals: Sequence[RowMapping], copies: Sequence[dict[str, Any]]) -> None:
    """Each copy takes its original's unique key, when no live job holds it (a finished original).

    A key held by a live job (the original, retried with --force, or a job sent since) stays with
    it: that copy is sent without a key, and a warning names it.
    """
    for original, copy in zip(originals, copies, strict=True):
        key = original["unique_key"]
        if key is None:
            continue
        try:
            with db.engine.begin() as conn:
                conn.execute(update(jobs).where(jobs.c.id == copy["id"]).values(unique_key=key))
        except IntegrityError:
            logger.warning("job %s was sent without the unique key %r: a job not finished holds it", copy["id"], key)
        except SQLAlchemyError as exc:
            why = "job %s was sent, but the history could not give it the unique key %r: %s"
            logger.warning(why, copy["id"], key, exc)
