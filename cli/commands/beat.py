"""``appctl beat``: send the runs of the schedules kept in the app's database."""

from __future__ import annotations

import contextlib
import sys

import click

from cli.state import with_app

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@click.command()
@click.option(
    "-l",
    "--loglevel",
    type=click.Choice(LOG_LEVELS, case_sensitive=False),
    default="INFO",
    show_default=True,
    help="What the beat logs (stderr).",
)
@with_app
def beat(loglevel: str) -> None:
    """Run Celery beat on the schedules in the database (`appctl schedule`); one of many beats sends."""
    from cli.secrets import masked_standard_streams
    from project.schedules.beat import run_beat

    with masked_standard_streams(), contextlib.redirect_stdout(sys.stderr):  # Celery prints its banner: not data
        run_beat(loglevel)
