"""``appctl result``: wait for job results."""

from __future__ import annotations

import click

from cli.params import timeout_option
from cli.render import output_option, render_records, resolve_format
from cli.state import with_app

RESULT_COLUMNS = ("id", "name", "state", "result", "error", "finished_at", "worker")


def render_results(task_ids: list[str], timeout: float, fmt: str | None) -> None:
    """Wait for the jobs, print their results, then fail (exit 1) if any job did not succeed."""
    from project.jobs.results import require_success, wait_for_results

    states = wait_for_results(task_ids, timeout)
    if resolve_format(fmt) == "plain":  # plain text is the bare results of the jobs that succeeded
        render_records([s for s in states if s["state"] == "SUCCESS"], ("result",), fmt)
    else:
        render_records(states, RESULT_COLUMNS, fmt)
    require_success(states)


@click.group()
def result() -> None:
    """Job results."""


@result.command()
@click.argument("task_ids", metavar="ID...", nargs=-1, required=True)
@timeout_option("Give up after this many seconds (exit 124).")
@output_option
@with_app
def wait(task_ids: tuple[str, ...], timeout: float, fmt: str | None) -> None:
    """Wait for the jobs ID... to finish and print their results."""
    render_results(list(task_ids), timeout, fmt)
