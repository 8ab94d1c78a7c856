"""When schedules run, as pure functions of (spec, zone, after): DST days in Paris, intervals that never drift."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from project.errors import InvalidInput
from project.schedules.timing import (
    check_cron,
    describe_cron,
    describe_interval,
    format_interval,
    next_cron_run,
    next_interval_run,
    zone,
)

PARIS = "Europe/Paris"


def runs(spec: str, tz: str, start: datetime, end: datetime) -> list[datetime]:
    """Every run from ``start`` to ``end``, each found from the one before, as a beat finds them."""
    found, moment = [], start
    while (moment := next_cron_run(spec, zone(tz), moment)) <= end:
        found.append(moment)
    return found


def local(moments: list[datetime], tz: str) -> list[str]:
    return [moment.astimezone(zone(tz)).isoformat() for moment in moments]


def test_a_daily_2am_run_in_paris_happens_once_on_the_spring_forward_day_at_3am() -> None:
    # 2026-03-29: at 02:00 the clocks jump to 03:00, so 02:00 does not exist that day.
    found = runs("0 2 * * *", PARIS, datetime(2026, 3, 27, 12, tzinfo=UTC), datetime(2026, 3, 31, 12, tzinfo=UTC))
    assert local(found, PARIS) == [
        "2026-03-28T02:00:00+01:00",
        "2026-03-29T03:00:00+02:00",  # the moment of the jump
        "2026-03-30T02:00:00+02:00",
        "2026-03-31T02:00:00+02:00",
    ]


def test_a_daily_2am_run_in_paris_happens_once_on_the_fall_back_day() -> None:
    # 2026-10-25: at 03:00 the clocks go back to 02:00, so 02:00 happens twice that day.
    found = runs("0 2 * * *", PARIS, datetime(2026, 10, 23, 12, tzinfo=UTC), datetime(2026, 10, 27, 12, tzinfo=UTC))
    assert local(found, PARIS) == [
        "2026-10-24T02:00:00+02:00",
        "2026-10-25T02:00:00+02:00",  # the first 02:00 only
        "2026-10-26T02:00:00+01:00",
        "2026-10-27T02:00:00+01:00",
    ]


def test_a_beat_asking_during_the_repeated_hour_does_not_run_it_again() -> None:
    second_two_am = datetime(2026, 10, 25, 1, 0, 30, tzinfo=UTC)  # 02:00:30 CET, the second 02:00
    assert local([next_cron_run("0 2 * * *", zone(PARIS), second_two_am)], PARIS) == ["2026-10-26T02:00:00+01:00"]


def test_times_inside_the_skipped_hour_run_once_at_the_jump() -> None:
    found = runs("*/30 * * * *", PARIS, datetime(2026, 3, 29, 0, 10, tzinfo=UTC), datetime(2026, 3, 29, 2, tzinfo=UTC))
    assert local(found, PARIS) == [
        "2026-03-29T01:30:00+01:00",
        "2026-03-29T03:00:00+02:00",  # 02:00, 02:30 and 03:00 are one moment: one run
        "2026-03-29T03:30:00+02:00",
        "2026-03-29T04:00:00+02:00",
    ]


def test_cron_in_utc_and_in_other_zones() -> None:
    after = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    assert next_cron_run("0 3 * * *", zone("UTC"), after) == datetime(2026, 6, 2, 3, 0, tzinfo=UTC)
    assert next_cron_run("0 3 * * *", zone("Asia/Kolkata"), after) == datetime(2026, 6, 1, 21, 30, tzinfo=UTC)
    assert next_cron_run("15 * * * *", zone("UTC"), after) == datetime(2026, 6, 1, 12, 15, tzinfo=UTC)
    assert next_cron_run("0 12 * * *", zone("UTC"), after) == datetime(2026, 6, 2, 12, 0, tzinfo=UTC)  # strictly after


def test_intervals_stay_in_step_with_their_anchor_however_late_they_are_asked() -> None:
    anchor = datetime(2026, 1, 1, tzinfo=UTC)
    assert next_interval_run(anchor, 900, anchor) == anchor + timedelta(minutes=15)
    late = anchor + timedelta(minutes=15, seconds=7)  # a beat that ran the 00:15 run 7 s late
    assert next_interval_run(anchor, 900, late) == anchor + timedelta(minutes=30)
    a_year_on = anchor + timedelta(days=365, seconds=0.9)
    assert next_interval_run(anchor, 1, a_year_on) == anchor + timedelta(days=365, seconds=1)
    assert next_interval_run(anchor, 1.5, anchor + timedelta(seconds=3)) == anchor + timedelta(seconds=4.5)


def test_an_interval_across_a_dst_change_keeps_absolute_time() -> None:
    anchor = datetime(2026, 3, 29, 0, 0, tzinfo=UTC)  # 01:00 in Paris, an hour before the jump
    assert next_interval_run(anchor, 3600, anchor) == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)


@pytest.mark.parametrize("spec", ["", "* * * *", "0 3 * * * *", "61 * * * *", "0 25 * * *", "every day"])
def test_a_cron_spec_must_have_five_valid_fields(spec: str) -> None:
    with pytest.raises(InvalidInput, match="five fields"):
        check_cron(spec)


def test_an_unknown_zone_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="IANA"):
        zone("Mars/Olympus_Mons")


def test_specs_in_plain_words() -> None:
    assert describe_cron("0 3 * * *") == "At 03:00, every day"
    assert describe_cron("*/5 * * * *") == "Every 5 minutes"
    assert describe_interval(900) == "Every 15 minutes"
    assert describe_interval(1) == "Every 1 second"
    assert (format_interval(5400), format_interval(1.5), format_interval(60)) == ("1h30m", "1.5s", "1m")
