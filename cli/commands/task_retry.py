"""``appctl task retry|run-now``: send jobs of the history again."""

from __future__ import annotations

import click

from cli.render import output_option, render_records, resolve_format
from cli.state import with_app

RETRY_TABLE_COLUMNS = ("id", "retry_of", "name", "queue", "eta")


@click.command()
@click.argument("task_ids", metavar="ID...", nargs=-1, required=True)
@click.option("--force", is_flag=True, help="Also send again jobs not finished yet (they may run twice).")
@click.option(
    "--keep-schedule", is_flag=True, help="Keep each job's eta and expiry (default: run as soon as possible)."
)
@output_option
@with_app
def retry(task_ids: tuple[str, ...], force: bool, keep_schedule: bool, fmt: str | None) -> None:
    """Send jobs again with their task, arguments and queue; print the new ids."""
    from project.jobs.retry import retry_jobs

    render_copies(retry_jobs(list(task_ids), force, keep_schedule), fmt)


@click.command(name="run-now")
@click.argument("task_id", metavar="ID")
@output_option
@with_app
def run_now(task_id: str, fmt: str | None) -> None:
    """Run a scheduled job now: revoke it and send a copy that does not wait; print the new id."""
    from project.jobs.retry import run_now as run_job_now

    render_copies([run_job_now(task_id)], fmt)


def render_copies(copies: list[dict[str, object]], fmt: str | None) -> None:
    """The copies sent: only their ids in plain text (for ``$(…)`` and ``xargs``), every field elsewhere."""
    from project.jobs.retry import RETRY_FIELDS

    columns = ("id",) if resolve_format(fmt) == "plain" else RETRY_FIELDS
    render_records(copies, columns, fmt, table_columns=RETRY_TABLE_COLUMNS)
