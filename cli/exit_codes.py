"""The one map from errors to exit codes and stderr messages."""

from __future__ import annotations

import re
import traceback
from enum import IntEnum
from typing import IO, Any

import click

from cli.render import printable


class ExitStatus(IntEnum):
    """appctl's exit codes (README, "Exit codes")."""

    SUCCESS = 0
    FAILURE = 1
    USAGE = 2
    NOT_FOUND = 3
    CONFLICT = 4
    DATA_ERROR = 65
    UNAVAILABLE = 69
    SOFTWARE = 70
    CONFIG = 78
    TIMEOUT = 124
    INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a command stopped by Ctrl-C


# A quoted value longer than this is cut in messages: an error echoes what was typed so it can be
# found, never 100,000 characters of it.
QUOTED_LIMIT = 80
_LONG_QUOTED = re.compile(rf"(?<!\w)(['\"])([^'\"\n]{{{QUOTED_LIMIT}}})[^'\"\n]*?\1(?!\w)")


def cut_long_quotes(message: str) -> str:
    """``message`` with every quoted value over QUOTED_LIMIT characters cut short with an ellipsis."""
    return _LONG_QUOTED.sub(lambda m: f"{m[1]}{m[2]}\u2026{m[1]}", message)


class AppctlClickError(click.ClickException):
    """A ClickException carrying the exit status of the error it reports."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(cut_long_quotes(printable(message)))
        self.exit_code = exit_code  # type: ignore[misc]  # Click declares it per class


class OneLineUsageError(click.UsageError):
    """A usage error shown as one ``Error:`` line that points at the command's ``--help``."""

    def __init__(self, original: click.UsageError) -> None:
        super().__init__(original.format_message(), original.ctx)

    def show(self, file: IO[Any] | None = None) -> None:
        hint = f" (see '{self.ctx.command_path} --help')" if self.ctx is not None else ""
        lines = self.format_message().rstrip(".").splitlines()  # Celery's worker writes two
        message = cut_long_quotes(printable(" ".join(lines)))
        click.echo(f"Error: {message}{hint}", file=file, err=True)


def one_line_usage(exc: click.UsageError) -> click.ClickException:
    """``exc`` as one line, except the bare-command case, whose whole help is the answer.

    A bad value that came from an environment variable (``APPCTL_WAIT_TIMEOUT``, ``APPCTL_DEBUG``)
    is a configuration error (exit 78), not a usage error: nothing on the command line was wrong.
    """
    if isinstance(exc, click.exceptions.NoArgsIsHelpError | OneLineUsageError):
        return exc
    variable = _environment_variable(exc)
    if variable is not None and isinstance(exc, click.BadParameter):
        return AppctlClickError(f"{variable} is not valid: {exc.message}", ExitStatus.CONFIG)
    return OneLineUsageError(exc)


def _environment_variable(exc: click.UsageError) -> str | None:
    """The variable that gave the bad value of ``exc``, when the value came from the environment."""
    param, ctx = getattr(exc, "param", None), exc.ctx
    if param is None or ctx is None or param.name is None:
        return None
    if ctx.get_parameter_source(param.name) is not click.core.ParameterSource.ENVIRONMENT:
        return None
    envvar = getattr(param, "envvar", None)
    return envvar if isinstance(envvar, str) else None


# The commands that carry out each remedy a service names (project/errors.py REMEDIES).
REMEDY_HINTS = {
    "list tasks": "`appctl task list` shows the registered tasks",
    "list users": "`appctl user list` shows who exists",
    "upgrade database": "run `appctl db upgrade`",
    "show revisions": "`appctl db status` shows the revisions",
    "activate user": "`appctl user activate` turns it back on",
    "set password": "`appctl user set-password` sets one",
    "settle import conflicts": "`appctl user import --on-conflict skip` leaves such rows out, `update` changes emails",
    "retry anyway": "wait for it to finish, or `appctl task retry --force` sends it again anyway",
    "list schedules": "`appctl schedule list` shows the schedules",
    "list queues": "`appctl queue list` shows the queues",
}


def interrupted() -> AppctlClickError:
    """The one-line error for Ctrl-C (SIGINT)."""
    return AppctlClickError("interrupted", int(ExitStatus.INTERRUPTED))


def exit_status_for(exc: BaseException) -> ExitStatus:
    """The exit status for one of the project's errors (SOFTWARE for anything else)."""
    from project import errors  # imported on the error path only: `--help` stays light

    statuses = {
        errors.JobFailed: ExitStatus.FAILURE,
        errors.Unhealthy: ExitStatus.FAILURE,
        errors.WrongPassword: ExitStatus.FAILURE,
        errors.NotFound: ExitStatus.NOT_FOUND,
        errors.Conflict: ExitStatus.CONFLICT,
        errors.InvalidInput: ExitStatus.DATA_ERROR,
        errors.ServiceUnavailable: ExitStatus.UNAVAILABLE,
        errors.ConfigError: ExitStatus.CONFIG,
        errors.TimedOut: ExitStatus.TIMEOUT,
    }
    for cls in type(exc).__mro__:
        if cls in statuses:
            return statuses[cls]
    return ExitStatus.SOFTWARE


def as_click_error(exc: BaseException, debug: bool) -> AppctlClickError:
    """The one-line error for ``exc``; under ``debug`` the masked traceback goes to stderr first."""
    from cli.secrets import mask_configured_secrets

    if debug:  # each line of the traceback as printable as the error line (a job's error text is anyone's)
        lines = mask_configured_secrets("".join(traceback.format_exception(exc))).splitlines()
        click.echo("\n".join(map(printable, lines)), err=True)
    status = exit_status_for(exc)
    if status is ExitStatus.SOFTWARE and (undecodable := _not_utf8(exc)) is not None:
        # Bytes that are not UTF-8 in an argument (argv holds them as lone surrogates) reached a
        # driver, which refused them before writing anything: bad input, not a bug.
        typed = repr(str(undecodable.object).encode("utf-8", "surrogateescape"))[1:]  # '\xff' as given, cut with …
        return AppctlClickError(f"{typed} is not UTF-8 text", int(ExitStatus.DATA_ERROR))
    if status is ExitStatus.SOFTWARE:
        message = f"unexpected {type(exc).__name__}: {exc}" + ("" if debug else " (run with --debug for the traceback)")
    else:
        message = str(getattr(exc, "message", exc))
        hint = getattr(exc, "hint", None) or REMEDY_HINTS.get(getattr(exc, "remedy", None) or "")
        message = f"{message} (hint: {hint})" if hint else message
    return AppctlClickError(mask_configured_secrets(message), int(status))


def _not_utf8(exc: BaseException) -> UnicodeEncodeError | None:
    """The UnicodeEncodeError of a lone surrogate behind ``exc`` (a driver's own, or one it wraps), if any."""
    seen: list[BaseException] = []
    found: BaseException | None = exc
    while found is not None and found not in seen:
        if isinstance(found, UnicodeEncodeError) and "surrogates not allowed" in str(found):
            return found
        seen.append(found)
        found = getattr(found, "orig", None) or found.__cause__ or found.__context__
    return None
