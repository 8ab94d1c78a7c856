"""``appctl schedule``: periodic jobs kept in the app's database, sent by `appctl beat`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import click

from cli.confirm import confirm_or_abort, yes_option
from cli.params import Duration, JsonOrString, KeyValue, TaskArgsCommand
from cli.render import note, output_option, render_record, render_records
from cli.state import with_app

# A table fits an 80-column terminal: the last run's job id (36 characters) is in `schedule show` and -o json.
TABLE_COLUMNS = ("name", "task", "args", "spec", "description", "next_run_at", "last_state", "enabled")
TRIGGER_COLUMNS = ("id", "schedule")


def schedule_fields() -> tuple[str, ...]:
    """A schedule's fields, as the service names them (imported when a command runs)."""
    from project.schedules.service import FIELDS

    return FIELDS


@click.group()
def schedule() -> None:
    """Periodic jobs kept in the database; `appctl beat` sends their runs."""


def _seconds(every: timedelta | None) -> float | None:
    return every.total_seconds() if every is not None else None


def _check_spec(cron: str | None, every: timedelta | None, required: bool) -> None:
    """A usage error for --cron with --every, or (``required``) for neither."""
    if cron is not None and every is not None:
        raise click.UsageError("give --cron or --every, not both")
    if required and cron is None and every is None:
        raise click.UsageError("give --cron or --every: when the schedule runs")


def spec_options(command: Any) -> Any:
    """``--cron``, ``--every``, ``--timezone``, ``--queue`` and ``-k``, shared by add and update."""
    for option in reversed(
        (
            click.option("--cron", help='A cron spec of five fields, e.g. "0 3 * * *", read in --timezone.'),
            click.option("--every", type=Duration(), help="An interval instead: 30s, 15m, 1h, 1d."),
            click.option("--timezone", help="The IANA zone the cron spec is read in [default: UTC]."),
            click.option("--queue", help="Send the runs to this queue."),
            click.option(
                "-k", "--kwarg", "kwargs", type=KeyValue(), multiple=True, help="A keyword argument, key=value."
            ),
        )
    ):
        command = option(command)
    return command


@schedule.command(cls=TaskArgsCommand, context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("task")
@click.argument("args", nargs=-1, type=JsonOrString())
@spec_options
@click.option("--disabled", is_flag=True, help="Add it disabled: no runs until `schedule enable`.")
@output_option
@with_app
def add(
    name: str,
    task: str,
    args: tuple[Any, ...],
    cron: str | None,
    every: timedelta | None,
    timezone: str | None,
    queue: str | None,
    kwargs: tuple[tuple[str, Any], ...],
    disabled: bool,
    fmt: str | None,
) -> None:
    """Add the schedule NAME: the task TASK with ARGS (checked as `task send` checks them), on --cron or --every."""
    from project.schedules.service import add_schedule

    _check_spec(cron, every, required=True)
    added = add_schedule(
        name,
        task,
        list(args),
        dict(kwargs),
        cron=cron,
        every=_seconds(every),
        timezone=timezone or "UTC",
        queue=queue,
        enabled=not disabled,
    )
    render_record(added, schedule_fields(), fmt)


@schedule.command(name="list")
@output_option
@with_app
def list_(fmt: str | None) -> None:
    """List the schedules: spec in words, next run, last run's job and state."""
    from project.schedules.service import list_schedules

    render_records(list_schedules(), schedule_fields(), fmt, table_columns=TABLE_COLUMNS)  # a table: times relative


@schedule.command()
@click.argument("name")
@output_option
@with_app
def show(name: str, fmt: str | None) -> None:
    """Show the schedule NAME."""
    from project.schedules.service import show_schedule

    render_record(show_schedule(name), schedule_fields(), fmt)


@schedule.command(cls=TaskArgsCommand, context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("args", nargs=-1, type=JsonOrString())
@click.option("--task", help="Send this task instead.")
@spec_options
@output_option
@with_app
def update(
    name: str,
    args: tuple[Any, ...],
    task: str | None,
    cron: str | None,
    every: timedelta | None,
    timezone: str | None,
    queue: str | None,
    kwargs: tuple[tuple[str, Any], ...],
    fmt: str | None,
) -> None:
    """Change the schedule NAME: ARGS (if given) and -k replace its arguments; the beat applies it within 5 s."""
    from project.schedules.service import update_schedule

    _check_spec(cron, every, required=False)
    given = {"task": task, "cron": cron, "every": _seconds(every), "timezone": timezone, "queue": queue}
    changes: dict[str, Any] = {key: value for key, value in given.items() if value is not None}
    if args:
        changes["args"] = list(args)
    if kwargs:
        changes["kwargs"] = dict(kwargs)
    if not changes:
        raise click.UsageError("nothing to change: give a new task, arguments, spec, zone or queue")
    render_record(update_schedule(name, changes), schedule_fields(), fmt)


@schedule.command()
@click.argument("name")
@output_option
@with_app
def enable(name: str, fmt: str | None) -> None:
    """Enable the schedule NAME: its next run is the first one from now."""
    from project.schedules.service import set_enabled

    render_record(set_enabled(name, True), schedule_fields(), fmt)


@schedule.command()
@click.argument("name")
@output_option
@with_app
def disable(name: str, fmt: str | None) -> None:
    """Disable the schedule NAME: the beat sends no more runs of it (within 5 s)."""
    from project.schedules.service import set_enabled

    render_record(set_enabled(name, False), schedule_fields(), fmt)


@schedule.command()
@click.argument("name")
@yes_option
@output_option
@with_app
def delete(name: str, yes: bool, fmt: str | None) -> None:
    """Delete the schedule NAME (its runs stay in the job history)."""
    from project.schedules.service import delete_schedule

    confirm_or_abort(f"Delete the schedule {name!r}?", yes)
    deleted = delete_schedule(name)
    note(f"Deleted the schedule {name!r}.")
    render_record(deleted, schedule_fields(), fmt)


@schedule.command()
@click.argument("name")
@output_option
@with_app
def trigger(name: str, fmt: str | None) -> None:
    """Send a run of the schedule NAME now, recorded like any other run; print the job id."""
    from project.schedules.service import trigger_schedule

    render_record(trigger_schedule(name), TRIGGER_COLUMNS, fmt)
