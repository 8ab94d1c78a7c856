"""Reading a password: one line of stdin with ``--password-stdin``, else a hidden prompt on a terminal.

Never from an argument or an environment variable: both show up in ``ps`` and in shell history.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def password_stdin_option(command: F) -> F:
    """The ``--password-stdin`` flag."""
    return click.option(
        "--password-stdin",
        is_flag=True,
        help="Read the password from the first line of stdin (only its newline is removed), for scripts.",
    )(command)


def read_password(from_stdin: bool, confirm: bool) -> str:
    """The password: stdin's first line, or typed (twice when ``confirm``) at a hidden prompt on a terminal."""
    from project.errors import InvalidInput

    if from_stdin:
        line = sys.stdin.buffer.readline()
        try:
            return line.decode("utf-8").removesuffix("\n")
        except UnicodeDecodeError:
            raise InvalidInput("the password on stdin is not UTF-8 text") from None
    if not sys.stdin.isatty():
        raise click.UsageError("no password: stdin is not a terminal; pipe the password in with --password-stdin")
    password: str = click.prompt("Password", hide_input=True, err=True)
    if confirm and click.prompt("Repeat the password", hide_input=True, err=True) != password:
        raise InvalidInput("the two passwords typed do not match; nothing was changed")
    return password
