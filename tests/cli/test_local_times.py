"""A date-time given without a zone is local time; one a daylight-saving jump skips is the jump, never sooner."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from cli.params import ISO8601


@pytest.mark.parametrize(
    ("zone", "given", "moment"),
    [
        ("Europe/Paris", "2027-03-28T02:30", datetime(2027, 3, 28, 1, 0, tzinfo=UTC)),  # 02:00 -> 03:00 CEST
        ("America/New_York", "2027-03-14T02:30:15", datetime(2027, 3, 14, 7, 0, tzinfo=UTC)),  # 02:00 -> 03:00 EDT
        ("Europe/Paris", "2027-10-31T02:30", datetime(2027, 10, 31, 0, 30, tzinfo=UTC)),  # twice: the first
        ("Europe/Paris", "2027-06-01T12:00:05", datetime(2027, 6, 1, 10, 0, 5, tzinfo=UTC)),
        ("Europe/Paris", "2027-06-01T12:00:05+00:00", datetime(2027, 6, 1, 12, 0, 5, tzinfo=UTC)),
    ],
)
def test_a_local_time_is_read_in_the_local_zone(
    monkeypatch: pytest.MonkeyPatch, zone: str, given: str, moment: datetime
) -> None:
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        assert ISO8601().convert(given, None, None) == moment
    finally:
        monkeypatch.undo()
        time.tzset()
