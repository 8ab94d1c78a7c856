"""``appctl worker``: a Celery worker for the factory-built app."""

from __future__ import annotations

import click

from cli.state import with_app


@click.command(
    short_help="Run a Celery worker for the app.",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []},
)
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
@with_app
def worker(celery_args: tuple[str, ...]) -> None:
    """Run a Celery worker for the app; options go to `celery worker` (see `appctl worker --help`)."""
    from celery import signals

    from cli.secrets import mask_handlers, masked_standard_streams
    from project.jobs.registry import current_celery

    signals.after_setup_logger.connect(mask_handlers, weak=False)  # a --logfile too
    signals.after_setup_task_logger.connect(mask_handlers, weak=False)
    with masked_standard_streams():
        current_celery().worker_main(["worker", *celery_args])
