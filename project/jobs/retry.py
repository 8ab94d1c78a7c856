"""Retrying jobs from the history: each sent again with its task, arguments and queue, linked both ways.

The new job's row names the job it retries (``retry_of``) and the old row names its retry
(``retried_by``). Every id is checked before anything is sent, so a bad one sends nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from itertools import groupby
from typing import Any

from project.errors import RETRY_ANYWAY, Conflict, InvalidInput
from project.failures import reason
from project.jobs.history.read import not_in_history
from project.jobs.history.select import JobFilter, count_jobs
from project.jobs.history.values import FINISHED_STATES, LIVE_STATES, is_truncated, sent_row
from project.jobs.history.write import current_writer, record_retries
from project.jobs.history.write_driver import read_row
from project.jobs.names import check_task_id
from project.jobs.publisher import SEND_BATCH_SIZE, JobToSend, SentJob
from project.jobs.registry import ArgumentChecker, resolve_task
from project.jobs.results import job_state
from project.jobs.send import SendOptions, published_and_recorded, publishing

logger = logging.getLogger("appctl.retry")

RETRY_FIELDS = ("id", "retry_of", "name", "queue", "state", "eta", "expires")
# What a copy is made from: the history columns a selection to retry is read with (``retry_selected``).
RETRY_COLUMNS = ("id", "name", "args", "kwargs", "queue", "state", "eta", "expires", "unique_key")
HistoryRow = Mapping[str, Any]  # a row of the jobs table, as read
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
    rows = history_rows(ids)
    if not force:
        _refuse_unfinished(rows)
    return send_copies(rows, keep_eta=keep_schedule, keep_expires=keep_schedule)


def retry_selected(
    chunks: Iterable[Sequence[HistoryRow]], keep_schedule: bool = False
) -> Iterator[list[dict[str, Any]]]:
    """Send again the jobs of a selection, read in chunks with RETRY_COLUMNS, as ``retry_batches`` does ids:
    each chunk is checked, then sent, and its records yielded once the history has the copies.

    The selection was read from the history just now, so its rows are not read again; whether
    its jobs are finished is ``refuse_unfinished_selection``'s to say, once for the whole selection.
    """
    checkers: dict[str, ArgumentChecker] = {}

    def checked() -> Iterator[Sequence[HistoryRow]]:
        for rows in chunks:
            for row in rows:
                _check_retryable(row)
            _check_arguments(rows, checkers)
            yield rows

    return _copies_sent(checked(), checkers, keep_schedule, keep_schedule, take_keys=True)


def retry_selection(job_filter: JobFilter) -> JobFilter:
    """What a retry by filter sends again: the jobs selected that no retry has sent yet. A job retried
    before is left to its copy (selected in its turn if it failed), so running the retry again sends nothing twice."""
    return replace(job_filter, not_retried=True)


def refuse_unfinished_selection(job_filter: JobFilter) -> None:
    """Conflict when ``job_filter`` selects jobs not finished yet: retried by a filter, they would run twice."""
    live = tuple(state for state in (job_filter.states or LIVE_STATES) if state in LIVE_STATES)
    count = count_jobs(replace(job_filter, states=live)) if live else 0
    if count:
        raise Conflict(f"{count} of the selected jobs are not finished, so none is retried", remedy=RETRY_ANYWAY)


def history_rows(ids: Sequence[str]) -> list[HistoryRow]:
    """The history rows of ``ids`` (duplicates once, in the order given), each checked to be sent again
    (InvalidInput); NotFound names the missing."""
    wanted = list(dict.fromkeys(ids))
    for task_id in wanted:
        check_task_id(task_id)
    found: dict[str, HistoryRow] = {}
    history = current_writer()
    for start in range(0, len(wanted), _READ_CHUNK):
        chunk = dict(enumerate(wanted[start : start + _READ_CHUNK]))
        marks = ", ".join(f":id_{index}" for index in chunk)
        read = history.query(f"SELECT * FROM jobs WHERE id IN ({marks})", {f"id_{i}": v for i, v in chunk.items()})
        found.update((row["id"], read_row(history.dialect, row)) for row in read)
    missing = [task_id for task_id in wanted if task_id not in found]
    if missing:
        raise not_in_history(*missing)  # the result backend may know it, but not its task and arguments
    rows = [found[task_id] for task_id in wanted]
    for row in rows:
        _check_retryable(row)
    return rows


def _check_retryable(row: HistoryRow) -> None:
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


def _refuse_unfinished(rows: Sequence[HistoryRow]) -> None:
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
    rows: Sequence[HistoryRow], keep_eta: bool, keep_expires: bool, take_keys: bool = True
) -> Iterator[list[dict[str, Any]]]:
    """Send a copy of each history row (its task, arguments and queue) and link the two rows.

    Every task is resolved and every job checked here, before anything is sent (InvalidInput,
    NotFound); the iterator returned then sends the rows a batch at a time, in the order given, and
    yields each batch's records (RETRY_FIELDS) once the broker has them and the history recorded them.
    ``take_keys``: each copy takes its original's unique key where it can (``pass_keys``).
    """
    checkers: dict[str, ArgumentChecker] = {}
    _check_arguments(rows, checkers)
    batches = (rows[start : start + SEND_BATCH_SIZE] for start in range(0, len(rows), SEND_BATCH_SIZE))
    return _copies_sent(batches, checkers, keep_eta, keep_expires, take_keys)


def _check_arguments(rows: Sequence[HistoryRow], checkers: dict[str, ArgumentChecker]) -> None:
    """InvalidInput naming the first job whose arguments no longer fit its task; NotFound for a task
    no longer registered. ``checkers`` keeps each task's checker, resolved once."""
    for row in rows:
        if row["name"] not in checkers:
            checkers[row["name"]] = ArgumentChecker(resolve_task(row["name"]))
        try:
            checkers[row["name"]].check(tuple(row["args"]), dict(row["kwargs"] or {}))
        except InvalidInput as exc:
            raise InvalidInput(f"job {row['id']} cannot be sent again: {exc.message}") from None


def _copies_sent(
    batches: Iterable[Sequence[HistoryRow]],
    checkers: dict[str, ArgumentChecker],
    keep_eta: bool,
    keep_expires: bool,
    take_keys: bool,
) -> Iterator[list[dict[str, Any]]]:
    """Each batch sent (rows of one task, queue and schedule share a publisher), its records yielded
    in the batch's order once the history has recorded and linked the copies, in a thread of its own
    while the next batches are sent (``published_and_recorded``: Ctrl-C, failures)."""
    keys: dict[str, str] = {}  # copy id: the unique key of its original, handed to the history thread

    def publish(batch: Sequence[HistoryRow]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        copies: dict[str, dict[str, Any]] = {}
        try:
            for options, group in _groups(batch, keep_eta, keep_expires):
                with publishing(checkers[group[0]["name"]].task, options) as publisher:
                    sent = publisher.publish([JobToSend(tuple(r["args"]), dict(r["kwargs"] or {})) for r in group])
                for new, row in zip(sent, group, strict=True):
                    copies[row["id"]] = _copy_row(new, row["id"])
                    if take_keys and row["unique_key"] is not None:
                        keys[copies[row["id"]]["id"]] = row["unique_key"]
        except BaseException:
            record(list(copies.values()))  # the groups the broker took before the failure
            raise
        return [_record(copies[row["id"]]) for row in batch], list(copies.values())

    def record(rows: list[dict[str, Any]]) -> None:
        record_retries(rows)
        pass_keys([(row["id"], keys.pop(row["id"])) for row in rows if row["id"] in keys])

    return published_and_recorded(batches, publish, record)


def _groups(
    rows: Sequence[HistoryRow], keep_eta: bool, keep_expires: bool
) -> Iterator[tuple[SendOptions, list[HistoryRow]]]:
    """The rows grouped by what one publisher sends alike: task, queue, eta and expiry."""

    def options(row: HistoryRow) -> tuple[str, str | None, datetime | None, datetime | None]:
        eta = row["eta"] if keep_eta else None
        return row["name"], row["queue"], eta, row["expires"] if keep_expires else None

    ordered = sorted(rows, key=lambda row: tuple(str(part) for part in options(row)))
    for (_, queue, eta, expires), group in groupby(ordered, key=options):
        yield SendOptions(eta=eta, expires=expires, queue=queue), list(group)


def _copy_row(new: SentJob, old_id: str) -> dict[str, Any]:
    """The history row of ``new``, the copy of job ``old_id``."""
    args, kwargs = list(new.args), new.kwargs
    return sent_row(new.id, new.name, args, kwargs, new.queue, eta=new.eta, expires=new.expires, retry_of=old_id)


def _record(copy: dict[str, Any]) -> dict[str, Any]:
    """The plain record of a copy sent: times as ISO 8601 UTC."""
    record = {name: copy.get(name) for name in RETRY_FIELDS}
    for name in ("eta", "expires"):
        moment: datetime | None = copy[name]
        record[name] = moment.isoformat() if moment is not None else None
    return record


def pass_keys(copy_keys: Sequence[tuple[str, str]]) -> None:
    """Each copy (by id) takes the unique key of its original, when no live job holds it (a finished original).

    A key held by a live job (the original, retried with --force, or a job sent since) stays with
    it: that copy is sent without a key, and a warning names it.
    """
    for task_id, key in copy_keys:
        try:
            given = current_writer().give_key(task_id, key)
        except Exception as exc:
            why = "job %s was sent, but the history could not give it the unique key %r: %s"
            logger.warning(why, task_id, key, reason(exc))
        else:
            if not given:
                logger.warning("job %s was sent without the unique key %r: a job not finished holds it", task_id, key)
