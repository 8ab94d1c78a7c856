"""Confirmation for destructive commands: a prompt on a terminal, ``--yes`` elsewhere."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def yes_option(command: F) -> F:
    """The ``-y/--yes`` flag."""
    return click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")(command)


def require_yes_off_terminal(yes: bool) -> None:
    """Refuse (usage error) when stdin is not a terminal and ``yes`` was not given: nobody could answer."""
    if not yes and not sys.stdin.isatty():
        raise click.UsageError("refusing to go on without --yes: stdin is not a terminal")


def confirm_or_abort(question: str, yes: bool) -> None:
    """Go on when ``yes``; ask on a terminal; refuse (usage error) when stdin is not a terminal."""
    if yes:
        return
    require_yes_off_terminal(yes)
    if not click.confirm(question, err=True):
        from cli.exit_codes import AppctlClickError, ExitStatus

        if not sys.stderr.isatty():
            click.echo(err=True)  # the answer was echoed on the terminal, not here: end the prompt's line
        raise AppctlClickError("not confirmed; nothing was changed", ExitStatus.FAILURE)
