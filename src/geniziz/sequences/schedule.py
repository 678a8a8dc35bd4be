"""When a step may run: a pure function of a moment, a delay and a sequence's sending schedule.

Windows are local wall-clock times in the sequence's time zone (zoneinfo), so "09:00-17:00" stays
09:00-17:00 across daylight-saving changes. A window whose start falls in a skipped hour (spring
forward) opens when the clock jumps; in a repeated hour (fall back) the first occurrence counts.
A moment outside every window moves to the next window's opening: steps wait, they never burst.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HORIZON_DAYS = 800  # a schedule with no opening in this long (all holidays) never runs


@dataclass(frozen=True)
class Window:
    days: frozenset[int]  # 0 = Monday
    start: time
    end: time  # time(0) as the end means midnight, the end of the day


@dataclass(frozen=True)
class Schedule:
    zone: ZoneInfo
    windows: tuple[Window, ...] = ()  # none: any time
    holidays: frozenset[date] = frozenset()

    @classmethod
    def of(cls, timezone: str, windows: list[dict], holidays: list[str]) -> Schedule:
        """From the stored form (validated on the way in): {"days": [...], "start": "HH:MM", "end": "HH:MM"}."""
        return cls(ZoneInfo(timezone), tuple(
            Window(frozenset(DAYS.index(d) for d in w["days"]), time.fromisoformat(w["start"]),
                   time.fromisoformat(w["end"])) for w in windows),
            frozenset(date.fromisoformat(d) for d in holidays))


def _local(day: date, at: time, zone: ZoneInfo) -> datetime:
    """A local wall-clock time as a UTC moment (fold=0: the first of a repeated hour; a skipped one
    resolves past the jump)."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def next_run(after: datetime, delay: timedelta, schedule: Schedule) -> datetime:
    """The first moment at or after ``after + delay`` inside a window, on a day that is not a holiday."""
    earliest = after.astimezone(UTC) + delay
    zone = schedule.zone
    first_day = earliest.astimezone(zone).date()
    for offset in range(HORIZON_DAYS):
        day = first_day + timedelta(days=offset)
        if day in schedule.holidays:
            continue
        if not schedule.windows:
            start = earliest if offset == 0 else _local(day, time(0), zone)
            return max(earliest, start)
        spans = sorted((_local(day, w.start, zone),
                        _local(day + timedelta(days=1), time(0), zone) if w.end == time(0) else _local(day, w.end, zone))
                       for w in schedule.windows if day.weekday() in w.days)
        for start, end in spans:
            if earliest < end:
                return max(earliest, start)
    raise ValueError("the sending schedule has no opening in the next two years")


def in_window(moment: datetime, schedule: Schedule) -> bool:
    return next_run(moment, timedelta(0), schedule) == moment.astimezone(UTC)
