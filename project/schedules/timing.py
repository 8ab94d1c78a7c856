"""When a schedule runs: pure functions of (spec, zone, "after this moment") -> the next run, in UTC.

Cron specs are read on the wall clock of their IANA zone (croniter walks the wall clock, this module
turns each wall time into a moment), so daylight saving time is handled here, once:
- a wall time that occurs twice (clocks go back) runs once, at its first occurrence;
- a wall time that does not exist (clocks jump forward) runs at the moment of the jump (02:30 in a
  02:00 -> 03:00 jump runs at 03:00).
Intervals (``--every``) run at anchor + k * interval in absolute time, so they never drift.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter

from project.errors import InvalidInput

CRON_FIELDS = 5  # minute hour day-of-month month day-of-week
MIN_EVERY = 1.0  # seconds: the beat's resolution
MAX_STEPS = 100_000  # wall times tried for one next run (at most a few per DST change)
_UNITS = (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
_WORDS = {"w": "week", "d": "day", "h": "hour", "m": "minute", "s": "second"}
# Files of the system's zone folder that ZoneInfo opens but name no IANA zone: "localtime" is each
# host's own zone (beats on two hosts would disagree), "posixrules" and "Factory" are tzdata's
# internals, and posix/ and right/ are copies of the tree (right/ counts leap seconds).
_HOST_FILES = frozenset({"localtime", "posixrules", "Factory"})
_OTHER_TREES = ("posix/", "right/")


def check_cron(spec: str) -> str:
    """``spec`` with its spaces normalised; InvalidInput unless it is a five-field cron expression."""
    fields = spec.split()
    if len(fields) != CRON_FIELDS or not croniter.is_valid(" ".join(fields)):
        raise InvalidInput(f"{spec!r} is not a cron expression of five fields (minute hour day month weekday)")
    normal = " ".join(fields)
    _next_wall(croniter(normal, datetime(2000, 1, 1)), spec)  # '0 0 30 2 *' is well formed, yet never runs
    return normal


def _next_wall(walls: croniter, spec: str) -> datetime:
    """The next wall time of ``walls``; InvalidInput when there is none (croniter gives up after years)."""
    try:
        return walls.get_next(datetime)
    except CroniterBadDateError:
        raise InvalidInput(f"{spec!r} never runs: no date matches its day and month fields") from None


def check_every(seconds: float) -> float:
    """``seconds`` when it is at least MIN_EVERY; InvalidInput otherwise."""
    if not seconds >= MIN_EVERY:
        raise InvalidInput(f"an interval must be at least {MIN_EVERY:g} second, not {seconds:g}")
    return seconds


def zone(name: str) -> ZoneInfo:
    """The IANA zone called ``name``; InvalidInput when there is none."""
    try:
        if name in _HOST_FILES or name.startswith(_OTHER_TREES):
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidInput(f"{name!r} is not an IANA time zone (for example UTC or Europe/Paris)") from None


def _aware(wall: datetime, tz: ZoneInfo | None) -> datetime:
    """``wall`` read in ``tz`` (None: this machine's local zone), at its first occurrence."""
    return wall.astimezone() if tz is None else wall.replace(tzinfo=tz, fold=0)


def _exists(wall: datetime, tz: ZoneInfo | None) -> bool:
    moment = _aware(wall, tz)
    return (moment if tz is None else moment.astimezone(UTC).astimezone(tz)).replace(tzinfo=None) == wall


def wall_moment(wall: datetime, tz: ZoneInfo | None) -> datetime:
    """The UTC moment of the naive wall time ``wall`` in ``tz`` (None: the local zone), by the module's
    rules: the first of two occurrences; in a jump forward, the moment of the jump (never sooner)."""
    if _exists(wall, tz):
        return _aware(wall, tz).astimezone(UTC)
    before = wall.replace(second=0, microsecond=0)
    for _ in range(MAX_STEPS):  # back to the last wall minute before the jump; the jump is one minute later
        before -= timedelta(minutes=1)
        if _exists(before, tz):
            return _aware(before, tz).astimezone(UTC) + timedelta(minutes=1)
    raise InvalidInput(f"{wall} has no moment in {tz.key if tz else 'the local time zone'}")


def next_cron_run(spec: str, tz: ZoneInfo, after: datetime) -> datetime:
    """The first run of the cron ``spec`` in ``tz`` strictly after the moment ``after``, in UTC."""
    wall = after.astimezone(tz).replace(tzinfo=None, second=0, microsecond=0)
    walls = croniter(spec, wall - timedelta(minutes=1))
    for _ in range(MAX_STEPS):
        moment = wall_moment(_next_wall(walls, spec), tz)
        if moment > after:
            return moment
    raise InvalidInput(f"{spec!r} never runs after {after.isoformat()}")


def next_interval_run(anchor: datetime, every: float, after: datetime) -> datetime:
    """The first of anchor + k * ``every`` (k >= 1) strictly after ``after``: in step with the anchor, no drift."""
    step = timedelta(seconds=every)
    if after < anchor:
        return anchor + step
    return anchor + step * ((after - anchor) // step + 1)


def format_interval(seconds: float) -> str:
    """``seconds`` as a duration such as ``15m``, ``1h30m`` or ``1.5s``."""
    if seconds != int(seconds):
        return f"{seconds:g}s"
    parts, rest = [], int(seconds)
    for unit, size in _UNITS:
        count = int(rest // size)
        if count:
            parts.append(f"{count}{unit}")
            rest -= count * size
    return "".join(parts) or "0s"


def describe_interval(seconds: float) -> str:
    """``Every 15 minutes``, ``Every 1 second``, ``Every 1h30m``."""
    for unit, size in _UNITS:
        if seconds % size == 0:
            count = int(seconds // size)
            return f"Every {count} {_WORDS[unit]}{'s' if count != 1 else ''}"
    return f"Every {format_interval(seconds)}"


def describe_cron(spec: str) -> str:
    """The cron spec in plain words: ``At 03:00, every day``."""
    from cron_descriptor import ExpressionDescriptor

    text = ExpressionDescriptor(spec, use_24hour_time_format=True).get_description()
    _minute, hour, day, month, weekday = spec.split()
    if (day, month, weekday) == ("*", "*", "*") and not {"*", "/", "-", ","} & set(hour):
        text += ", every day"
    return text
