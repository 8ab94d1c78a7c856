"""``appctl task history|status|revoke|prune``: the durable job history."""

from __future__ import annotations

from datetime import datetime, timedelta

import click
from click.core import ParameterSource

from cli.confirm import confirm_or_abort, yes_option
from cli.params import Duration, Seconds, Since, count_option, timeout_option
from cli.render import note, output_option, render_record, render_records
from cli.render_live import render_changes, render_live
from cli.state import with_app

JOB_TABLE_COLUMNS = ("id", "name", "state", "sent_at", "result", "error")
SCHEDULED_TABLE_COLUMNS = ("id", "name", "state", "due", "args", "queue")  # due: the eta from now, "in 3h"
REVOKE_COLUMNS = ("id", "name", "state", "revoked_at", "outcome")
PRUNE_COLUMNS = ("deleted", "would_delete", "before")


@click.command()
@click.option("--state", "states", multiple=True, help="Only jobs in this state (repeatable), e.g. FAILURE.")
@click.option("--name", help="Only this task (full or short name).")
@click.option("--since", type=Since(), help="Only jobs sent since then: 1h, 2d or an ISO 8601 date-time.")
@click.option("--scheduled", is_flag=True, help="Only jobs not yet due (eta ahead, not finished), soonest first.")
@count_option("--limit", default=100, show_default=True, help="At most this many (0: all).")
@click.option("--follow", is_flag=True, help="Instead, print jobs as they are sent or change, until Ctrl-C.")
@click.option("--timeout", type=Seconds(), help="With --follow: stop after this many seconds (exit 0).")
@output_option
@with_app
def history(
    states: tuple[str, ...],
    name: str | None,
    since: datetime | None,
    scheduled: bool,
    limit: int,
    follow: bool,
    timeout: float | None,
    fmt: str | None,
) -> None:
    """List the jobs the app sent, newest first, with their outcome (--follow: as they happen)."""
    from project.jobs.history.follow import follow_history
    from project.jobs.history.read import FIELDS, list_history

    if timeout is not None and not follow:
        raise click.UsageError("--timeout is for --follow: without it, task history does not wait")
    if follow:
        changes = follow_history(states, name, timeout)
        next(changes)  # following has begun: whatever happens from now on is printed
        note("Following the job history (Ctrl-C stops)." if timeout is None else f"Following for {timeout:g}s.")
        render_changes(changes, FIELDS, fmt, JOB_TABLE_COLUMNS)
        return
    records = list_history(states, name, since, limit or None, scheduled=scheduled)
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
@click.argument("task_ids", metavar="ID...", nargs=-1, required=True)
@click.option("--terminate", is_flag=True, help="Also stop a job already running (docs/commands.md: where).")
@output_option
@with_app
def revoke(task_ids: tuple[str, ...], terminate: bool, fmt: str | None) -> None:
    """Revoke jobs: a waiting job never runs, even after a worker restart."""
    from project.jobs.revoke import revoke_jobs

    render_records(revoke_jobs(list(task_ids), terminate), REVOKE_COLUMNS, fmt)


@click.command()
@click.option("--older-than", type=Duration(), required=True, help="Delete jobs sent longer ago: 30d, 12h, 1w.")
@click.option("--dry-run", is_flag=True, help="Only count the jobs that would be deleted.")
@yes_option
@output_option
@with_app
def prune(older_than: timedelta, dry_run: bool, yes: bool, fmt: str | None) -> None:
    """Delete old job history (for cron: `appctl task prune --older-than 30d --yes`)."""
    from project.jobs.history.read import prune_history

    if not dry_run:
        confirm_or_abort(f"Delete the history of jobs sent more than {older_than} ago?", yes)
    pruned = prune_history(older_than, dry_run)
    if not dry_run:
        note(f"Deleted {pruned['deleted']} job(s) sent before {pruned['before']}.")
    render_record(pruned, PRUNE_COLUMNS, fmt)
