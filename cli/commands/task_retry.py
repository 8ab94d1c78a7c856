"""``appctl task retry|run-now``: send jobs of the history again."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import click

from cli.confirm import yes_option
from cli.render import Record, ids_option, output_option, render_records, resolve_format
from cli.selection import act_on_selection, acts_on_ids, dry_run_option, job_filter_options, printed_batches
from cli.state import with_app

if TYPE_CHECKING:
    from collections.abc import Iterable

    from project.jobs.history.select import JobFilter

RETRY_TABLE_COLUMNS = ("id", "retry_of", "name", "queue", "eta")


@click.command()
@click.argument("task_ids", metavar="[ID]...", nargs=-1)
@job_filter_options
@click.option("--force", is_flag=True, help="Also send again jobs not finished yet (they may run twice).")
@click.option(
    "--keep-schedule", is_flag=True, help="Keep each job's eta and expiry (default: run as soon as possible)."
)
@dry_run_option
@yes_option
@output_option
@ids_option
@with_app(orm=lambda params: False)  # reads and writes the history through the driver: no SQLAlchemy
def retry(
    task_ids: tuple[str, ...],
    job_filter: JobFilter,
    force: bool,
    keep_schedule: bool,
    dry_run: bool,
    yes: bool,
    fmt: str | None,
) -> None:
    """Send jobs again, given by ID or by filter, with their task, arguments and queue; print the new ids."""
    from project.jobs.retry import (
        RETRY_COLUMNS,
        refuse_unfinished_selection,
        retry_batches,
        retry_selected,
        retry_selection,
    )

    if acts_on_ids(task_ids, job_filter, dry_run):
        batches = retry_batches(list(task_ids), force=force, keep_schedule=keep_schedule)
        render_copies(printed_batches(batches), fmt)  # each batch printed once the broker has it
        return
    job_filter = retry_selection(job_filter)
    if not force:
        refuse_unfinished_selection(job_filter)
    act = functools.partial(retry_selected, keep_schedule=keep_schedule)
    columns = copy_columns(fmt)
    verb = ("Retry", "Retried")
    act_on_selection(job_filter, act, columns, fmt, verb, yes, dry_run, RETRY_TABLE_COLUMNS, read=RETRY_COLUMNS)


@click.command(name="run-now")
@click.argument("task_id", metavar="ID")
@output_option
@with_app
def run_now(task_id: str, fmt: str | None) -> None:
    """Run a scheduled job now: revoke it and send a copy that does not wait; print the new id."""
    from project.jobs.run_now import run_now as run_job_now

    render_copies([run_job_now(task_id)], fmt)


def render_copies(copies: Iterable[Record], fmt: str | None) -> None:
    """The copies sent: only their ids in plain text (for ``$(…)`` and ``xargs``), every field elsewhere."""
    copies = iter(copies)
    render_records(copies, copy_columns(fmt), fmt, table_columns=RETRY_TABLE_COLUMNS)
    for _ in copies:  # a table shows the first rows only: the rest are sent all the same
        pass


def copy_columns(fmt: str | None) -> tuple[str, ...]:
    """What is printed of a copy: its id in plain text, every field (RETRY_FIELDS) in the other formats."""
    from project.jobs.retry import RETRY_FIELDS

    return ("id",) if resolve_format(fmt) == "plain" else RETRY_FIELDS
