"""``appctl queue list|purge``: the broker's queues, what waits in them, and emptying one."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import closing
from typing import Any

import click

from cli.confirm import confirm_or_abort, yes_option
from cli.render import note, output_option, render_records, resolve_format
from cli.state import with_app

UNKNOWN = "-"  # what a table or plain line shows where the broker cannot tell


@click.group()
def queue() -> None:
    """The broker's queues."""


@queue.command(name="list")
@click.option("-q", "--ids", is_flag=True, help="Print only the queue names, one a line.")
@output_option
@with_app
def list_(ids: bool, fmt: str | None) -> None:
    """List the queues the app uses or that hold jobs: waiting, oldest age (s), reserved, consumers."""
    from project.jobs.queues import QUEUE_FIELDS, list_queues

    records = list_queues()
    if ids:
        render_records(records, ("name",), "plain")
        return
    render_records(_shown(records, fmt), QUEUE_FIELDS, fmt)


def _shown(records: list[dict[str, Any]], fmt: str | None) -> list[dict[str, Any]]:
    """``-`` for what the broker cannot tell, except in JSON (null)."""
    if resolve_format(fmt) in ("json", "jsonl"):
        return records
    return [{key: UNKNOWN if value is None else value for key, value in record.items()} for record in records]


@queue.command()
@click.argument("name")
@click.option("--name", "task_name", help="Only the jobs of this task (full or short name).")
@click.option("--dry-run", is_flag=True, help="Only list the jobs that would be purged (not on RabbitMQ).")
@yes_option
@output_option
@with_app
def purge(name: str, task_name: str | None, dry_run: bool, yes: bool, fmt: str | None) -> None:
    """Remove the waiting jobs of queue NAME and mark each REVOKED (purged) in the history."""
    from project.jobs.purge import PURGE_FIELDS, prepare_purge

    plan = prepare_purge(name, task_name, dry_run)
    if not dry_run:
        jobs = f"the jobs of {plan.task}" if plan.task else "every job"
        confirm_or_abort(f"Purge {jobs} waiting in queue {name} ({plan.waiting} waiting)?", yes)
    counted = _Counted(plan)
    with closing(counted):  # an interruption puts the chunk being purged back at once
        render_records(counted, PURGE_FIELDS, fmt)
        counted.finish()  # a table shows the first rows only: the purge goes on to the end
    note(f"{'Would purge' if dry_run else 'Purged'} {counted.count} job(s) from queue {name}.")


class _Counted:
    """The records of an iterable, counted as they go by."""

    def __init__(self, records: Iterable[dict[str, Any]]) -> None:
        self.records, self.count = iter(records), 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for record in self.records:
            self.count += 1
            yield record

    def finish(self) -> None:
        """Go through the records not yet printed."""
        for _ in self:
            pass

    def close(self) -> None:
        """Close the records' generator: what it holds is given back now, not when it is collected."""
        close = getattr(self.records, "close", None)
        if close is not None:
            close()
