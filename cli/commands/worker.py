"""``appctl worker``: a Celery worker for the factory-built app."""

from __future__ import annotations

import click

from cli.state import with_app

HELP_OPTIONS = ("-h", "--help")


@click.command(
    short_help="Run a Celery worker for the app.",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []},
)
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
def worker(celery_args: tuple[str, ...]) -> None:
    """Run a Celery worker for the app; options go to `celery worker` (see `appctl worker --help`)."""
    if any(arg in HELP_OPTIONS for arg in celery_args):
        from project.jobs.worker import show_worker_help

        show_worker_help()
    else:
        run_app_worker(celery_args)


@with_app
def run_app_worker(celery_args: tuple[str, ...]) -> None:
    """The worker itself, inside the app, with every configured password masked in what it prints."""
    from celery import signals

    from cli.secrets import mask_handlers, masked_standard_streams
    from project.jobs.worker import run_worker

    signals.after_setup_logger.connect(mask_handlers, weak=False)  # a --logfile too
    signals.after_setup_task_logger.connect(mask_handlers, weak=False)
    with masked_standard_streams():
        run_worker(celery_args)
