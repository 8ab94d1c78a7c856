"""``appctl task history|status|revoke|prune``: the durable job history."""

from __future__ import annotations

from datetime import datetime, timedelta

import click

from cli.confirm import confirm_or_abort, yes_option
from cli.params import Duration, Since, count_option
from cli.render import note, output_option, render_record, render_records
from cli.state import with_app

JOB_TABLE_COLUMNS = ("id", "name", "state", "sent_at", "result", "error")
REVOKE_COLUMNS = ("id", "name", "state", "revoked_at", "outcome")
PRUNE_COLUMNS = ("deleted", "would_delete", "before")


@click.command()
@click.option("--state", "states", multiple=True, help="Only jobs in this state (repeatable), e.g. FAILURE.")
@click.option("--name", help="Only this task (full or short name).")
@click.option("--since", type=Since(), help="Only jobs sent since then: 1h, 2d or an ISO 8601 date-time.")
@count_option("--limit", default=100, show_default=True, help="At most this many (0: all).")
@output_option
@with_app
def history(states: tuple[str, ...], name: str | None, since: datetime | None, limit: int, fmt: str | None) -> None:
    """List the jobs the app sent, newest first, with their outcome."""
    from project.jobs.history.read import FIELDS
    from project.jobs.results import reconciled_history

    records = reconciled_history(states, name, since, limit or None)
    render_records(records, FIELDS, fmt, table_columns=JOB_TABLE_COLUMNS)


@click.command()
@click.argument("task_ids", metavar="ID...", nargs=-1, required=True)
@output_option
@with_app
def status(task_ids: tuple[str, ...], fmt: str | None) -> None:
    """Show the jobs' state, result or error, times and worker, without waiting."""
    from project.jobs.history.read import FIELDS
    from project.jobs.results import job_statuses

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
