"""The simulation's time grid and the city's calendar (Asia/Shanghai days, China's holidays).

Time is kept as numpy ``datetime64[us]`` in UTC throughout; local time exists only to decide
what kind of day and hour it is, because people live by the local clock, not by UTC.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from features import holidays

LOCAL_OFFSET = np.timedelta64(8, "h")  # Asia/Shanghai has no daylight saving time

WORKDAY, WEEKEND, HOLIDAY, GOLDEN = 0, 1, 2, 3


def _dates(days: Iterable[dt.date]) -> np.ndarray:
    return np.array(sorted(d.isoformat() for d in days), dtype="datetime64[D]")


# China's public holidays (days off) and make-up working days, from the State Council's notices
# as kept in features.holidays (2015-2027); the long breaks (Spring Festival, National Day) are
# when much of the city leaves: traffic is lightest and hotline quietest.
_HOLIDAY_DAYS = _dates(holidays.holiday_names())
_MAKEUP_WORKDAYS = _dates(holidays.adjusted_workdays())
_GOLDEN_DAYS = _dates(
    first + dt.timedelta(days=i)
    for first, last in holidays.golden_weeks()
    for i in range((last - first).days + 1)
)


def _day_range(first: str, last: str) -> np.ndarray:
    return np.arange(np.datetime64(first), np.datetime64(last) + 1, dtype="datetime64[D]")


def _fallback_holidays(year: int) -> list[tuple[str, str]]:
    """Fixed-date holidays for years without an announced calendar (no lunar festivals)."""
    return [
        (f"{year}-01-01", f"{year}-01-01"),
        (f"{year}-05-01", f"{year}-05-05"),
        (f"{year}-10-01", f"{year}-10-07"),
    ]


def day_kinds(days: np.ndarray) -> np.ndarray:
    """Kind of each local date: WORKDAY, WEEKEND, HOLIDAY or GOLDEN (a long national break).

    Make-up working days count as workdays even on a weekend, as they do for offices and schools.
    Years outside features.holidays' table get fixed-date holidays and no make-up days.
    """
    days = days.astype("datetime64[D]")
    weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday; Monday == 0
    kinds = np.where(weekday >= 5, WEEKEND, WORKDAY)
    years = {int(str(d)[:4]) for d in (days.min(), days.max())} if days.size else set()
    for year in range(min(years, default=0), max(years, default=-1) + 1):
        if holidays.FIRST_YEAR <= year <= holidays.LAST_YEAR:
            continue
        for first, last in _fallback_holidays(year):
            kinds = np.where(np.isin(days, _day_range(first, last)), HOLIDAY, kinds)
    kinds = np.where(np.isin(days, _HOLIDAY_DAYS), HOLIDAY, kinds)
    kinds = np.where(np.isin(days, _MAKEUP_WORKDAYS), WORKDAY, kinds)
    return np.where(np.isin(days, _GOLDEN_DAYS), GOLDEN, kinds)


@dataclass(frozen=True)
class Clock:
    """The simulated period: ``days`` whole UTC days from ``start`` at 00:00 UTC."""

    start: dt.date
    days: int

    @property
    def t0(self) -> np.datetime64:
        return np.datetime64(self.start.isoformat(), "us")

    def grid(self, step_min: int) -> np.ndarray:
        """UTC timestamps every ``step_min`` minutes over the period."""
        n = self.days * 24 * 60 // step_min
        return self.t0 + np.arange(n, dtype=np.int64) * np.timedelta64(step_min * 60_000_000, "us")

    def steps_per_day(self, step_min: int) -> int:
        return 24 * 60 // step_min

    def index_of(self, when: dt.datetime, step_min: int) -> int:
        """Grid index of a UTC datetime (naive values are taken as UTC)."""
        if when.tzinfo is not None:
            when = when.astimezone(dt.UTC).replace(tzinfo=None)
        delta = np.datetime64(when, "us") - self.t0
        return int(delta // np.timedelta64(step_min, "m"))


def local_hour(ts: np.ndarray) -> np.ndarray:
    """Fractional local hour of day (0..24) of UTC timestamps."""
    local = ts + LOCAL_OFFSET
    minutes = (local - local.astype("datetime64[D]")).astype("timedelta64[m]").astype(np.int64)
    return minutes / 60.0


def local_date(ts: np.ndarray) -> np.ndarray:
    return (ts + LOCAL_OFFSET).astype("datetime64[D]")


def day_of_year(ts: np.ndarray) -> np.ndarray:
    """Local day of year, 0-based and fractional, for seasonal cycles."""
    local = ts + LOCAL_OFFSET
    year_start = local.astype("datetime64[Y]").astype("datetime64[us]")
    return (local - year_start).astype(np.int64) / 86_400e6
