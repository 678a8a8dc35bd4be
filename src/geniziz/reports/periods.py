"""Report periods in the workspace's time zone: local dates in, UTC bounds out, and the SQL that buckets a
timestamp into the local day, week (from Monday) or month it falls in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import ARRAY, Date, case, func, literal
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.elements import Grouping

from geniziz.db import UTCDateTime

Interval = Literal["day", "week", "month"]
RelativeRange = Literal["today", "yesterday", "this_week", "last_week", "this_month", "last_month",
                        "this_quarter", "last_quarter", "this_year", "last_year", "last_7_days",
                        "last_30_days", "last_90_days"]


def _month_start(day: date, months_back: int = 0) -> date:
    index = day.year * 12 + day.month - 1 - months_back
    return date(index // 12, index % 12 + 1, 1)


def relative_dates(name: RelativeRange, today: date) -> tuple[date, date]:
    """The first and last local day (both included) of a named range."""
    monday = today - timedelta(days=today.weekday())
    quarter = _month_start(today, (today.month - 1) % 3)
    match name:
        case "today":
            return today, today
        case "yesterday":
            return today - timedelta(days=1), today - timedelta(days=1)
        case "this_week":
            return monday, monday + timedelta(days=6)
        case "last_week":
            return monday - timedelta(days=7), monday - timedelta(days=1)
        case "this_month":
            return _month_start(today), _month_start(today, -1) - timedelta(days=1)
        case "last_month":
            return _month_start(today, 1), _month_start(today) - timedelta(days=1)
        case "this_quarter":
            return quarter, _month_start(quarter, -3) - timedelta(days=1)
        case "last_quarter":
            return _month_start(quarter, 3), quarter - timedelta(days=1)
        case "this_year":
            return date(today.year, 1, 1), date(today.year, 12, 31)
        case "last_year":
            return date(today.year - 1, 1, 1), date(today.year - 1, 12, 31)
        case _:  # last_N_days, today included
            days = int(name.split("_")[1])
            return today - timedelta(days=days - 1), today


def bucket_start(day: date, interval: Interval) -> date:
    if interval == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1) if interval == "month" else day


@dataclass(frozen=True)
class Period:
    """Local days ``first``..``last`` (both included) in ``zone``; ``start``/``end`` are the UTC bounds [start, end)."""

    zone: str
    first: date
    last: date

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(), self.tz).astimezone(UTC)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time(), self.tz).astimezone(UTC)

    def within(self, column: Any) -> ColumnElement[bool]:
        return (column >= self.start) & (column < self.end)

    def buckets(self, interval: Interval) -> list[str]:
        """Every bucket of the period in order, as the ISO date it starts on (empty ones too)."""
        keys, day = [], self.first
        while day <= self.last:
            keys.append(bucket_start(day, interval).isoformat())
            day += timedelta(days=1)
        return list(dict.fromkeys(keys))

    def bucket(self, column: Any, interval: Interval, dialect: str) -> ColumnElement[Any]:
        """SQL for the local day/week/month a UTC timestamp falls in (read it with ``bucket_key``)."""
        if dialect == "postgresql":
            # The bucket whose UTC start is the last at or before the timestamp: a binary search over the
            # period's bucket starts: over a year of contacts, a tenth of the cost of converting every row.
            days = [date.fromisoformat(key) for key in self.buckets(interval)]
            starts = [datetime.combine(day, time(), self.tz).astimezone(UTC) for day in days]
            which = func.width_bucket(column, literal(starts, ARRAY(UTCDateTime())))
            return Grouping(literal(days, ARRAY(Date())))[which]  # (days)[which]: PostgreSQL wants the brackets
        # SQLite has no time zones: shift by the zone's UTC offset, which is constant between the
        # transitions (DST) inside the period, so a CASE over those few stretches is exact.
        shift = self._sqlite_offset(column)
        if interval == "month":
            return func.strftime("%Y-%m-01", column, shift)
        if interval == "week":
            return func.date(column, shift, "weekday 0", "-6 days")  # the Monday on or before
        return func.date(column, shift)

    def _sqlite_offset(self, column: Any) -> Any:
        stretches = self._offsets()
        if len(stretches) == 1:
            return literal(_modifier(stretches[0][1]))
        return case(*((column < literal(until, UTCDateTime()), _modifier(offset)) for until, offset in stretches[:-1]),
                    else_=_modifier(stretches[-1][1]))

    def _offsets(self) -> list[tuple[datetime, int]]:
        """[(until, offset seconds)]: the zone's offset on each stretch of the period (the last is open)."""
        tz, stretches = self.tz, []
        moment, offset = self.start, _offset(self.start, tz)
        while moment < self.end:
            step = min(moment + timedelta(days=1), self.end)
            if _offset(step, tz) != offset:  # a transition within this day: find its minute
                low, high = moment, step
                while high - low > timedelta(seconds=1):  # whole seconds: high ends on the transition
                    middle = low + timedelta(seconds=(high - low) // timedelta(seconds=1) // 2)
                    low, high = (middle, high) if _offset(middle, tz) == offset else (low, middle)
                stretches.append((high, offset))
                moment, offset = high, _offset(high, tz)
                continue
            moment = step
        return [*stretches, (self.end, offset)]


def bucket_key(value: Any) -> str:
    """A bucket as the ISO date it starts on, whichever form the database gave it in."""
    return value.date().isoformat() if isinstance(value, datetime) else str(value)


def _offset(moment: datetime, tz: ZoneInfo) -> int:
    return int(moment.astimezone(tz).utcoffset().total_seconds())  # type: ignore[union-attr]


def _modifier(seconds: int) -> str:
    return f"{seconds:+d} seconds"


def seconds_between(later: Any, earlier: Any, dialect: str) -> ColumnElement[float]:
    if dialect == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def month_of(column: Any, dialect: str) -> ColumnElement[str]:
    """A date column's month as its first day's ISO date."""
    if dialect == "postgresql":
        return func.to_char(column, "YYYY-MM-01")
    return func.strftime("%Y-%m-01", column)
