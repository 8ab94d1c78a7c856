"""Reusable Click parameter types for task arguments and times."""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

import click


def json_or_string(text: str) -> Any:
    """``text`` parsed as a JSON literal, or the string itself when it is not JSON."""
    try:
        return json.loads(text)
    except ValueError:
        return text


class KeyValue(click.ParamType):
    """``key=value``, the value read like a positional task argument."""

    name = "key=value"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[str, Any]:
        if isinstance(value, tuple):
            return value
        key, sep, raw = str(value).partition("=")
        if not sep or not key.isidentifier():
            self.fail(f"{value!r} is not key=value with a Python identifier as key", param, ctx)
        return key, json_or_string(raw)


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
        return moment if moment.tzinfo else moment.astimezone()


class Seconds(click.ParamType):
    """A finite, non-negative number of seconds."""

    name = "seconds"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not math.isfinite(seconds) or seconds < 0:
            self.fail(f"{value!r} is not a finite, non-negative number of seconds", param, ctx)
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
