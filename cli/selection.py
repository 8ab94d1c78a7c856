"""One job selection for every listing and bulk action: its options, and the runner of a bulk action."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from cli.confirm import confirm_or_abort, require_yes_off_terminal
from cli.params import Since
from cli.render import Record, note, render_records

if TYPE_CHECKING:
    from project.jobs.history.select import JobFilter

F = TypeVar("F", bound=Callable[..., Any])
# A bulk action: given a selection's chunks of history rows, it acts on each in turn and yields its
# records, holding Ctrl-C back until the consumer has printed them (``acted``).
BulkAction = Callable[[Iterator[list[Record]]], Iterator[Iterable[Record]]]
SELECTED_COLUMNS = ("id", "name", "state", "queue", "sent_at", "error")  # project.jobs.history.read.BRIEF_FIELDS
FILTER_OPTIONS = {  # JobFilter field: (option, help)
    "states": ("--state", "Only jobs in this state (repeatable), e.g. FAILURE."),
    "name": ("--name", "Only this task (full or short name)."),
    "queue": ("--queue", "Only jobs sent to this queue."),
    "since": ("--since", "Only jobs sent since then: 1h, 2d (ago) or an ISO 8601 date-time."),
    "until": ("--until", "Only jobs sent before then: 1h, 2d (ago) or an ISO 8601 date-time."),
    "error": ("--error", "Only jobs whose error contains TEXT (any case)."),
    "args": ("--args", "Only jobs whose JSON args or kwargs contain TEXT (any case)."),
    "retry_of": ("--retry-of", "Only the retries of the job ID."),
}
METAVARS = {"states": "STATE", "name": "TASK", "queue": "QUEUE", "error": "TEXT", "args": "TEXT", "retry_of": "ID"}


def job_filter_options(command: F) -> F:
    """Add the selection options; the command receives them as one ``job_filter`` (a JobFilter)."""

    @functools.wraps(command)
    def with_job_filter(*args: Any, **kwargs: Any) -> Any:
        from project.jobs.history.select import JobFilter

        fields = {field: kwargs.pop(f"filter_{field}") for field in FILTER_OPTIONS}
        return command(*args, job_filter=JobFilter(**fields), **kwargs)

    for field, (flag, help_text) in reversed(FILTER_OPTIONS.items()):
        kind: dict[str, Any] = {"type": Since()} if field in ("since", "until") else {"metavar": METAVARS[field]}
        option = click.option(flag, f"filter_{field}", multiple=field == "states", help=help_text, **kind)
        with_job_filter = option(with_job_filter)
    return cast(F, with_job_filter)


def dry_run_option(command: F) -> F:
    """The ``--dry-run`` flag of a bulk action."""
    return click.option("--dry-run", is_flag=True, help="Only list the jobs it would act on; change nothing.")(command)


def acts_on_ids(task_ids: tuple[str, ...], job_filter: JobFilter, dry_run: bool) -> bool:
    """True for a command given ids, False for one given a filter; a usage error for both or neither."""
    if task_ids and not job_filter.is_empty:
        raise click.UsageError("give job ids or a filter (--state, --name, ...), not both")
    if task_ids and dry_run:
        raise click.UsageError("--dry-run is for a filter: give --state, --name, ... instead of ids")
    if not task_ids and job_filter.is_empty:
        raise click.UsageError("give job ids, or a filter (--state, --name, --since, ...) to select jobs")
    return bool(task_ids)


def act_on_selection(
    job_filter: JobFilter,
    act: BulkAction,
    columns: tuple[str, ...],
    fmt: str | None,
    verb: tuple[str, str],
    yes: bool = False,
    dry_run: bool = False,
    table_columns: tuple[str, ...] | None = None,
    read: tuple[str, ...] = ("id",),
    acted_on: Callable[[Record], bool] | None = None,
) -> None:
    """Run a bulk action on the jobs ``job_filter`` selects: ``act`` takes the selection's chunks of
    history rows (of the columns ``read``) and yields each chunk's records once it has acted on it.

    Says on stderr how many jobs are selected, then (unless ``dry_run``, which only lists them)
    asks on a terminal or needs ``yes``, and prints ``act``'s record of each job as it goes.
    ``verb`` is ``("Revoke", "Revoked")``; the closing count leaves out the records ``acted_on`` says
    were left as they were (a job found finished meanwhile).
    """
    from project.jobs.history.read import selected_jobs
    from project.jobs.history.select import select_jobs

    if not dry_run:
        require_yes_off_terminal(yes)  # before any work: a script learns it at once, whatever it selects
    selection = select_jobs(job_filter)
    note(f"{selection.count} job(s) selected.")
    if dry_run:
        render_records((job for chunk in selected_jobs(selection) for job in chunk), SELECTED_COLUMNS, fmt)
        note(f"Dry run: nothing was {verb[1].lower()}.")
        return
    if selection.count:
        confirm_or_abort(f"{verb[0]} {selection.count} job(s)?", yes)
    done = [0]
    records = printed_batches(act(selection.chunks(read)), done, acted_on)
    render_records(records, columns, fmt, table_columns=table_columns)
    for _ in records:  # a table shows the first rows only: the rest are acted on all the same
        pass
    note(f"{verb[1]} {done[0]} job(s).")


def on_ids(act: Callable[[list[str]], Iterable[Record]]) -> BulkAction:
    """``act`` on the ids of each chunk of rows in turn (``acted``), as a bulk action."""
    return lambda chunks: acted(([row["id"] for row in chunk] for chunk in chunks), act)


def acted(id_chunks: Iterable[list[str]], act: Callable[[list[str]], Iterable[Record]]) -> Iterator[Iterable[Record]]:
    """``act``'s records of each chunk of ids, acted on and handed out with Ctrl-C held.

    The consumer prints each batch of records as it is yielded (``printed_batches``): a Ctrl-C is
    raised only once the chunk's last record was printed and stdout flushed, so stdout always names
    every job acted on.
    """
    from project.interrupts import interrupts_held

    for task_ids in id_chunks:
        with interrupts_held():
            yield act(task_ids)


def printed_batches(
    batches: Iterable[Iterable[Record]],
    done: list[int] | None = None,
    acted_on: Callable[[Record], bool] | None = None,
) -> Iterator[Record]:
    """The records of each batch, stdout flushed after each: what a script reads is what was done.
    ``done[0]`` counts the records handed out (those ``acted_on`` says were acted on)."""
    for batch in batches:
        for record in batch:
            if done is not None and (acted_on is None or acted_on(record)):
                done[0] += 1
            yield record
        sys.stdout.flush()
