"""Reusable Click parameter types for task arguments and times."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

# What Python, the databases and Celery can hold. A value beyond is a usage error (exit 2), never a crash.
MAX_SECONDS = 100 * 365.25 * 86400  # 100 years: every moment from now +- this is a date-time Python has
MAX_ROWS = 2**63 - 1  # LIMIT and OFFSET are 64-bit integers on SQLite and PostgreSQL


def json_or_string(text: str) -> Any:
    """``text`` parsed as a JSON literal, or the string itself when it is not JSON.

    ValueError when it is JSON nested too deeply for Python to read (thousands of levels).
    """
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError(f"{text[:10]!r}... is JSON nested too deeply to read") from None
    except ValueError:
        return text


class JsonOrString(click.ParamType):
    """A task argument: a JSON literal, or a string when it is not JSON."""

    name = "json|text"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return json_or_string(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class KeyValue(click.ParamType):
    """``key=value``, the value read like a positional task argument."""

    name = "key=value"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[str, Any]:
        if isinstance(value, tuple):
            return value
        key, sep, raw = str(value).partition("=")
        if not sep or not key.isidentifier():
            self.fail(f"{value!r} is not key=value with a Python identifier as key", param, ctx)
        return key, JsonOrString().convert(raw, param, ctx)


class ISO8601(click.ParamType):
    """An ISO 8601 date-time; one without a zone is local time."""

    name = "iso8601"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 date-time", param, ctx)
        from project.schedules.timing import wall_moment

        try:  # near year 1 or 9999 the moment may have no local or UTC time
            moment = moment if moment.tzinfo else wall_moment(moment, None)  # in a DST gap: the jump, never sooner
            moment.astimezone(UTC)
        except (OverflowError, ValueError):
            self.fail(f"{value!r} is too close to year 1 or 9999 to be a date-time in every zone", param, ctx)
        if abs((moment - datetime.now(UTC)).total_seconds()) > MAX_SECONDS:
            self.fail(f"{value!r} is more than 100 years from now", param, ctx)
        return moment


class Seconds(click.ParamType):
    """A non-negative number of seconds, at most MAX_SECONDS (100 years)."""

    name = "seconds"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not math.isfinite(seconds) or seconds < 0:
            self.fail(f"{value!r} is not a finite, non-negative number of seconds", param, ctx)
        if seconds > MAX_SECONDS:
            self.fail(f"{value!r} is more than {MAX_SECONDS:.0f} seconds (100 years)", param, ctx)
        return seconds


class SecondsOrTime(click.ParamType):
    """A number of seconds from now, or an ISO 8601 date-time."""

    name = "seconds|iso8601"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float | datetime:
        if isinstance(value, datetime):
            return value
        try:
            float(value)
        except ValueError:
            return ISO8601().convert(value, param, ctx)
        return Seconds().convert(value, param, ctx)


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _option_name(token: str) -> tuple[str, bool]:
    """The option a token names and whether it carries its value (``--queue=q``, ``-kx=1``)."""
    if token.startswith("--"):
        return token.partition("=")[0], "=" in token
    return token[:2], len(token) > 2


class TaskArgsCommand(click.Command):
    """A command whose positional arguments may start with ``-`` (``-1``) while unknown options stay errors.

    Click's ``ignore_unknown_options`` alone would pass a misspelt ``--cuontdown 5`` to the task as two
    arguments; here only numbers and the tokens after ``--`` are taken as arguments.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        options = {
            name: p for p in self.get_params(ctx) if isinstance(p, click.Option) for name in p.opts + p.secondary_opts
        }
        takes_value = False
        for token in args:
            if token == "--":
                break
            if takes_value or not token.startswith("-") or token == "-" or _is_number(token):
                takes_value = False
                continue
            name, attached = _option_name(token)
            if name not in options:
                raise click.NoSuchOption(name, ctx=ctx)
            takes_value = not options[name].is_flag and not attached
        return super().parse_args(ctx, args)


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


class Duration(click.ParamType):
    """A length of time such as ``90s``, ``15m``, ``1h``, ``2d``, ``1w`` or ``1h30m``."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> timedelta:
        if isinstance(value, timedelta):
            return value
        text = str(value).strip().lower()
        parts = _DURATION.findall(text)
        if not parts or "".join(number + unit for number, unit in parts) != text:
            self.fail(f"{value!r} is not a duration such as 30m, 1h, 2d or 1w", param, ctx)
        seconds = sum(float(number) * _DURATION_UNITS[unit] for number, unit in parts)
        if seconds > MAX_SECONDS:
            self.fail(f"{value!r} is longer than 100 years", param, ctx)
        return timedelta(seconds=seconds)


class Since(click.ParamType):
    """A moment: that long ago (``1h``, ``2d``) or an ISO 8601 date-time."""

    name = "duration|iso8601"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        if _DURATION.match(str(value).strip().lower()):
            return datetime.now(UTC) - Duration().convert(value, param, ctx)
        return ISO8601().convert(value, param, ctx)


def count_option(*names: str, **kwargs: Any) -> Callable[[F], F]:
    """An option taking a whole number from 0 to MAX_ROWS (a row count or offset)."""
    return click.option(*names, type=click.IntRange(min=0, max=MAX_ROWS), **kwargs)


DEFAULT_WAIT_TIMEOUT = 60  # seconds `result wait` and `task send --wait` wait, unless APPCTL_WAIT_TIMEOUT says


def timeout_option(help_text: str) -> Callable[[F], F]:
    """The ``--timeout`` of every command that waits (default 60 s, or ``APPCTL_WAIT_TIMEOUT``)."""
    return click.option(
        "--timeout",
        type=Seconds(),
        default=DEFAULT_WAIT_TIMEOUT,
        show_default=True,
        envvar="APPCTL_WAIT_TIMEOUT",
        help=help_text,
    )
