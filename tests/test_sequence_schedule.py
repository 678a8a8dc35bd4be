"""The sending schedule, a pure function: delays, windows, holidays, time zones and DST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from geniziz.sequences.schedule import Schedule, in_window, next_run

WEEKDAYS = [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"}]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_no_windows_means_any_time_and_the_delay_is_added() -> None:
    anytime = Schedule.of("UTC", [], [])
    assert next_run(utc(2026, 11, 26, 3, 0), timedelta(minutes=90), anytime) == utc(2026, 11, 26, 4, 30)
    assert next_run(utc(2026, 11, 26, 3, 0), timedelta(0), anytime) == utc(2026, 11, 26, 3, 0)


def test_a_moment_inside_a_window_stays_and_outside_waits_for_the_next_opening() -> None:
    madrid = Schedule.of("Europe/Madrid", WEEKDAYS, [])  # UTC+1 in November
    # Thursday 10:00 Madrid is inside.
    assert next_run(utc(2026, 11, 26, 9, 0), timedelta(0), madrid) == utc(2026, 11, 26, 9, 0)
    # Thursday 18:00 Madrid: Friday 09:00 Madrid (08:00 UTC).
    assert next_run(utc(2026, 11, 26, 17, 0), timedelta(0), madrid) == utc(2026, 11, 27, 8, 0)
    # Friday 16:30 Madrid + 2 hours: past Friday's window, so Monday 09:00 (no weekend steps).
    assert next_run(utc(2026, 11, 27, 15, 30), timedelta(hours=2), madrid) == utc(2026, 11, 30, 8, 0)
    # Early morning: the same day's opening.
    assert next_run(utc(2026, 11, 26, 5, 0), timedelta(0), madrid) == utc(2026, 11, 26, 8, 0)
    assert in_window(utc(2026, 11, 26, 9, 0), madrid) and not in_window(utc(2026, 11, 28, 9, 0), madrid)


def test_the_same_utc_moment_falls_differently_in_different_zones() -> None:
    moment = utc(2026, 11, 26, 20, 0)  # 21:00 in Madrid, 15:00 in New York, 05:00 next day in Tokyo
    assert next_run(moment, timedelta(0), Schedule.of("America/New_York", WEEKDAYS, [])) == moment
    assert next_run(moment, timedelta(0), Schedule.of("Europe/Madrid", WEEKDAYS, [])) == utc(2026, 11, 27, 8, 0)
    # Tokyo: Friday 05:00 -> Friday 09:00 JST (00:00 UTC).
    assert next_run(moment, timedelta(0), Schedule.of("Asia/Tokyo", WEEKDAYS, [])) == utc(2026, 11, 27, 0, 0)


def test_holidays_are_skipped_in_local_dates() -> None:
    schedule = Schedule.of("Europe/Madrid", WEEKDAYS, ["2026-12-25"])  # a Friday
    assert next_run(utc(2026, 12, 24, 17, 0), timedelta(0), schedule) == utc(2026, 12, 28, 8, 0)
    assert next_run(utc(2026, 12, 25, 10, 0), timedelta(0), Schedule.of("UTC", [], ["2026-12-25"])) \
        == utc(2026, 12, 26, 0, 0)


def test_windows_keep_their_wall_clock_across_daylight_saving() -> None:
    ny = Schedule.of("America/New_York", WEEKDAYS, [])
    # Before the change (EDT, UTC-4): 09:00 local is 13:00 UTC; after it (EST, UTC-5): 14:00 UTC.
    assert next_run(utc(2026, 10, 30, 22, 0), timedelta(0), ny) == utc(2026, 11, 2, 14, 0)  # Fri evening -> Mon
    assert next_run(utc(2026, 10, 29, 12, 0), timedelta(0), ny) == utc(2026, 10, 29, 13, 0)
    # A one-day delay across the change is 24 hours of real time; 09:00 EST Monday (a window) stays.
    assert next_run(utc(2026, 11, 1, 14, 0), timedelta(days=1), ny) == utc(2026, 11, 2, 14, 0)


def test_a_window_starting_in_the_skipped_hour_opens_when_the_clock_jumps() -> None:
    night = Schedule.of("America/New_York", [{"days": ["sun"], "start": "02:30", "end": "04:00"}], [])
    # 8 March 2026: 02:00 EST jumps to 03:00 EDT; 02:30 does not exist, the window opens at 03:30 EDT.
    opened = next_run(utc(2026, 3, 8, 0, 0), timedelta(0), night)
    assert opened == utc(2026, 3, 8, 7, 30) and opened.astimezone(night.zone).hour == 3
    # Fall back (1 November 2026): 01:30 happens twice; the first one counts.
    repeated = Schedule.of("America/New_York", [{"days": ["sun"], "start": "01:30", "end": "03:00"}], [])
    assert next_run(utc(2026, 11, 1, 0, 0), timedelta(0), repeated) == utc(2026, 11, 1, 5, 30)


def test_midnight_ends_the_day_and_several_windows_a_day_are_ordered() -> None:
    split = Schedule.of("UTC", [{"days": ["thu"], "start": "14:00", "end": "00:00"},
                                {"days": ["thu"], "start": "08:00", "end": "10:00"}], [])
    assert next_run(utc(2026, 11, 26, 11, 0), timedelta(0), split) == utc(2026, 11, 26, 14, 0)
    assert next_run(utc(2026, 11, 26, 23, 59), timedelta(0), split) == utc(2026, 11, 26, 23, 59)
    assert next_run(utc(2026, 11, 26, 7, 0), timedelta(0), split) == utc(2026, 11, 26, 8, 0)


def test_a_schedule_that_never_opens_is_an_error() -> None:
    never = Schedule.of("UTC", [{"days": ["mon"], "start": "09:00", "end": "10:00"}],
                        [(datetime(2026, 11, 30) + timedelta(days=7 * i)).date().isoformat() for i in range(200)])
    with pytest.raises(ValueError):
        next_run(utc(2026, 11, 26), timedelta(0), never)
