"""``appctl task history|status|revoke|prune``: the durable job history."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import click
from click.core import ParameterSource

from cli.confirm import yes_option
from cli.params import Duration, Seconds, count_option, timeout_option
from cli.render import ids_option, note, output_option, render_records
from cli.render_live import render_changes, render_live
from cli.selection import (
    SELECTED_COLUMNS,
    act_on_selection,
    acted,
    acts_on_ids,
    dry_run_option,
    job_filter_options,
    on_ids,
    printed_batches,
)
from cli.state import with_app

if TYPE_CHECKING:
    from project.jobs.history.select import JobFilter

JOB_TABLE_COLUMNS = ("id", "name", "state", "sent_at", "result", "error")
SCHEDULED_TABLE_COLUMNS = ("id", "name", "state", "due", "args", "queue")  # due: the eta from now, "in 3h"
REVOKE_COLUMNS = ("id", "name", "state", "revoked_at", "outcome")
KEPT_REVOKED = (
    "Kept {count} revoked job(s) still waiting in the broker: deleted, they would run when a worker takes them"
    " (`appctl queue purge` removes them there; a worker that discards one lets a prune delete it)."
)


@click.command()
@job_filter_options
@click.option("--schedule", help="Only the runs of this schedule (`appctl schedule list`).")
@click.option("--scheduled", is_flag=True, help="Only jobs not yet due (eta ahead, not finished), soonest first.")
@count_option("--limit", default=100, show_default=True, help="At most this many (0: all).")
@click.option("--follow", is_flag=True, help="Instead, print jobs as they are sent or change, until Ctrl-C.")
@click.option("--timeout", type=Seconds(), help="With --follow: stop after this many seconds (exit 0).")
@output_option
@ids_option
@with_app
def history(
    job_filter: JobFilter,
    schedule: str | None,
    scheduled: bool,
    limit: int,
    follow: bool,
    timeout: float | None,
    fmt: str | None,
) -> None:
    """List the jobs the app sent, newest first, with their outcome (--follow: as they happen)."""
    from project.jobs.history.follow import follow_history
    from project.jobs.history.read import FIELDS
    from project.jobs.results import reconciled_history

    if timeout is not None and not follow:
        raise click.UsageError("--timeout is for --follow: without it, task history does not wait")
    if follow and schedule is not None:
        raise click.UsageError("--schedule is for listing: --follow follows every job")
    if follow and scheduled:
        raise click.UsageError("--scheduled is for listing: --follow follows every job as it changes")
    if follow:
        changes = follow_history(job_filter, timeout)
        next(changes)  # following has begun: whatever happens from now on is printed
        note("Following the job history (Ctrl-C stops)." if timeout is None else f"Following for {timeout:g}s.")
        render_changes(changes, FIELDS, fmt, JOB_TABLE_COLUMNS)
        return
    records = reconciled_history(job_filter, limit or None, scheduled=scheduled, schedule=schedule)
    if scheduled:  # a table shows the eta as "due", relative to now ("in 3h")
        records = ({**record, "due": record["eta"]} for record in records)
    render_records(records, FIELDS, fmt, table_columns=SCHEDULED_TABLE_COLUMNS if scheduled else JOB_TABLE_COLUMNS)


@click.command()
@click.argument("task_ids", metavar="ID...", nargs=-1, required=True)
@click.option("--watch", is_flag=True, help="Show each change until every job has finished; exit like `result wait`.")
@timeout_option("With --watch: give up after this many seconds (exit 124).")
@output_option
@with_app
def status(task_ids: tuple[str, ...], watch: bool, timeout: float, fmt: str | None) -> None:
    """Show the jobs' state, result or error, times and worker, without waiting (--watch: until they finish)."""
    from project.jobs.history.read import FIELDS
    from project.jobs.results import job_statuses, require_success
    from project.jobs.watch import watch_jobs

    if watch:
        require_success(render_live(watch_jobs(task_ids, timeout), FIELDS, fmt, JOB_TABLE_COLUMNS))
        return
    if click.get_current_context().get_parameter_source("timeout") is ParameterSource.COMMANDLINE:
        raise click.UsageError("--timeout is for --watch: without it, task status does not wait")
    records, unknown = job_statuses(list(task_ids))
    render_records(records, FIELDS, fmt, table_columns=JOB_TABLE_COLUMNS)
    if unknown:
        raise unknown


@click.command()
@click.argument("task_ids", metavar="[ID]...", nargs=-1)
@job_filter_options
@click.option("--terminate", is_flag=True, help="Also stop a job already running (docs/commands.md: where).")
@dry_run_option
@yes_option
@output_option
@ids_option
@with_app
def revoke(
    task_ids: tuple[str, ...], job_filter: JobFilter, terminate: bool, dry_run: bool, yes: bool, fmt: str | None
) -> None:
    """Revoke jobs, given by ID or by filter: a waiting job never runs, even after a worker restart."""
    from project.jobs.revoke import revocable, revoke_jobs, was_revoked

    act = functools.partial(revoke_jobs, terminate=terminate)
    if acts_on_ids(task_ids, job_filter, dry_run):
        render_records(printed_batches(acted([list(task_ids)], act)), REVOKE_COLUMNS, fmt)  # printed before a Ctrl-C
    else:
        verb = ("Revoke", "Revoked")
        selection = revocable(job_filter)
        act_on_selection(selection, on_ids(act), REVOKE_COLUMNS, fmt, verb, yes, dry_run, acted_on=was_revoked)


@click.command()
@job_filter_options
@click.option(
    "--older-than", type=Duration(), help="Only jobs sent longer ago: 30d, 12h, 1w (and forget workers gone that long)."
)
@dry_run_option
@yes_option
@output_option
@ids_option
@with_app
def prune(job_filter: JobFilter, older_than: timedelta | None, dry_run: bool, yes: bool, fmt: str | None) -> None:
    """Delete job history, chosen by age or filter (for cron: `appctl task prune --older-than 30d --yes`)."""
    from project.jobs.history.prune import delete_jobs, forget_workers_gone_before, prunable

    if older_than is None and job_filter.is_empty:
        raise click.UsageError("say which jobs to delete: --older-than, or a filter (--state, --until, ...)")
    cutoff = datetime.now(UTC) - older_than if older_than is not None else None
    selected, kept = prunable(job_filter.sent_before(cutoff) if cutoff is not None else job_filter)
    if kept:
        note(KEPT_REVOKED.format(count=kept))
    act = functools.partial(delete_jobs, selected)
    act_on_selection(selected, on_ids(act), SELECTED_COLUMNS, fmt, ("Delete", "Deleted"), yes, dry_run)
    if cutoff is not None and not dry_run:
        forget_workers_gone_before(cutoff)
