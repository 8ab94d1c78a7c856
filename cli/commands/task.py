"""``appctl task``: list the registered tasks and send jobs."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any

import click
from click.core import ParameterSource

from cli.commands.result import render_results
from cli.commands.task_history import history, prune, revoke, status
from cli.commands.task_retry import retry, run_now
from cli.params import ISO8601, JsonOrString, KeyValue, Seconds, SecondsOrTime, TaskArgsCommand, timeout_option
from cli.render import ProgressBar, note, output_option, progress, render_record, render_records
from cli.state import with_app

if TYPE_CHECKING:
    from project.jobs.publisher import SentJob

TASK_COLUMNS = ("name", "short_name", "signature", "doc")


@click.group()
def task() -> None:
    """Background jobs."""


for command in (history, status, revoke, prune, retry, run_now):
    task.add_command(command)


@task.command(name="list")
@output_option
@with_app
def list_(fmt: str | None) -> None:
    """List the registered tasks and their signatures."""
    from project.jobs.registry import describe_tasks

    render_records(describe_tasks(), TASK_COLUMNS, fmt)


@task.command(cls=TaskArgsCommand, context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("args", nargs=-1, type=JsonOrString())
@click.option("-k", "--kwarg", "kwargs", type=KeyValue(), multiple=True, help="A keyword argument, key=value.")
@click.option("--countdown", type=Seconds(), help="Run no sooner than this many seconds from now.")
@click.option("--eta", type=ISO8601(), help="Run no sooner than this date-time.")
@click.option("--expires", type=SecondsOrTime(), help="Discard the job if not started by then.")
@click.option("--queue", help="Publish to this queue.")
@click.option(
    "--from-file",
    type=click.File("rb"),
    help='Send one job per line of FILE (- for stdin): [args...] or {"args": [...], "kwargs": {...}}.',
)
@click.option(
    "--unique",
    is_flag=True,
    help="Send nothing if an unfinished job has the same task and arguments: print that job's id (exit 0).",
)
@click.option("--unique-key", metavar="KEY", help="Like --unique, but identical means: unfinished with the same KEY.")
@click.option("--wait", is_flag=True, help="Wait for the result and print it, like `result wait`.")
@timeout_option("With --wait: give up after this many seconds (exit 124).")
@output_option
@with_app(orm=lambda params: params["wait"])  # only --wait reads the job history
def send(
    name: str,
    args: tuple[Any, ...],
    kwargs: tuple[tuple[str, Any], ...],
    countdown: float | None,
    eta: datetime | None,
    expires: float | datetime | None,
    queue: str | None,
    from_file: IO[bytes] | None,
    unique: bool,
    unique_key: str | None,
    wait: bool,
    timeout: float,
    fmt: str | None,
) -> None:
    """Send the task NAME with ARGS (JSON literals, else strings); print the job id.

    Negative numbers may be given as they are; other arguments that start with "-" go after "--".
    """
    from project.interrupts import interrupts_held
    from project.jobs.send import send_job

    if countdown is not None and eta is not None:
        raise click.UsageError("give --countdown or --eta, not both: a job has one time to run")
    when: dict[str, Any] = {"countdown": countdown, "eta": eta, "expires": expires, "queue": queue}
    if not wait and click.get_current_context().get_parameter_source("timeout") is ParameterSource.COMMANDLINE:
        raise click.UsageError("--timeout is for --wait: without it, task send does not wait")
    if from_file is not None:
        if args or kwargs or wait:
            raise click.UsageError("--from-file takes no ARGS, -k or --wait: each line holds a job's arguments")
        if unique or unique_key is not None:
            raise click.UsageError("--unique and --unique-key send one job; they do not go with --from-file")
        send_from_file(name, from_file, when, fmt)
        return
    if unique and unique_key is not None:
        raise click.UsageError("give --unique or --unique-key KEY, not both: a job has one unique key")
    with interrupts_held():  # a Ctrl-C ends the command once the id of a job the broker has is printed
        if unique or unique_key is not None:
            task_id, sent = send_unique(name, list(args), dict(kwargs), unique_key, when, wait)
        else:
            task_id, sent = send_job(name, list(args), dict(kwargs), **when, to_wait_for=wait), True
        if not wait:
            render_record({"id": task_id}, ("id",), fmt)
            sys.stdout.flush()
            return
        note(f"Sent {task_id}; waiting up to {timeout:g}s." if sent else f"Waiting up to {timeout:g}s for {task_id}.")
    render_results([task_id], timeout, fmt)


def send_unique(
    name: str, args: list[Any], kwargs: dict[str, Any], key: str | None, when: dict[str, Any], wait: bool
) -> tuple[str, bool]:
    """Send the job unless an unfinished one holds its unique key: the id of the job sent or found, and
    whether it was sent."""
    from project.jobs.unique import send_unique_job

    job = send_unique_job(name, args, kwargs, key=key, **when, to_wait_for=wait)
    if not job["sent"]:
        note(f"Already queued: job {job['id']} ({job['state']}) holds the same unique key; nothing was sent.")
    return str(job["id"]), bool(job["sent"])


def send_from_file(name: str, stream: IO[bytes], when: dict[str, Any], fmt: str | None) -> None:
    """Send the jobs of ``stream`` and print their ids, one a line, as each batch reaches the broker."""
    from project.jobs.send import send_from_lines

    total, batches = send_from_lines(name, stream, **when)
    with progress(total, f"Sending {name}") as bar:
        render_records(_sent_ids(batches, bar), ("id",), fmt)


def _sent_ids(batches: Iterable[list[SentJob]], bar: ProgressBar) -> Iterator[dict[str, str]]:
    for jobs in batches:
        with bar.cleared():  # the ids go to the terminal below the bar, never glued to it
            for job in jobs:
                yield {"id": job.id}
            sys.stdout.flush()  # the ids of a batch the broker has, before waiting for more input
        bar(len(jobs))
