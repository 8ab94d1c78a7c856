"""Celery's ``celery worker`` command, run in this process for the current app and named ``appctl``.

Two overrides, checked against Celery 5.7.0:
- ``Celery.start`` sets the default of the ``-A`` option (``celery_command.params[0]``) to the app
  and calls the command with ``standalone_mode`` on, which exits; here the same default is set and
  the command returns its status.
- ``worker --detach`` re-executes ``sys.argv`` (``celery.platforms.detached`` via ``detach``), so
  while the worker runs ``sys.argv`` is the command line of this app's worker (``-A app worker …``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any


def run_celery_command(celery: Any, args: list[str], argv: Sequence[str] | None = None) -> int:
    """Run Celery's command line ``args`` for ``celery``; its exit status.

    ``argv``: what ``sys.argv`` holds meanwhile (what a detaching worker re-executes).
    """
    from celery.bin.celery import celery as celery_command

    saved_argv = sys.argv
    if argv is not None:
        sys.argv = list(argv)
    celery_command.params[0].default = celery  # the `-A` option's default, as Celery.start does
    try:
        status = celery_command.main(args=args, prog_name="appctl", standalone_mode=False)
    finally:
        celery_command.params[0].default = None
        sys.argv = saved_argv
    return status if isinstance(status, int) else 0
