"""The simulation's time grid and the city's calendar (Asia/Shanghai days, China's holidays).

Time is kept as numpy ``datetime64[us]`` in UTC throughout; local time exists only to decide
what kind of day and hour it is, because people live by the local clock, not by UTC.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

LOCAL_OFFSET = np.timedelta64(8, "h")  # Asia/Shanghai has no daylight saving time

# China's public holidays (days off) and make-up working days, as announced by the State Council.
HOLIDAYS: dict[int, list[tuple[str, str]]] = {
    2025: [
        ("2025-01-01", "2025-01-01"),
        ("2025-01-28", "2025-02-04"),  # Spring Festival
        ("2025-04-04", "2025-04-06"),
        ("2025-05-01", "2025-05-05"),
        ("2025-05-31", "2025-06-02"),
        ("2025-10-01", "2025-10-08"),  # National Day and Mid-Autumn golden week
    ],
    2026: [
        ("2026-01-01", "2026-01-03"),
        ("2026-02-15", "2026-02-23"),  # Spring Festival
        ("2026-04-04", "2026-04-06"),
        ("2026-05-01", "2026-05-05"),
        ("2026-06-19", "2026-06-21"),
        ("2026-09-25", "2026-09-27"),
        ("2026-10-01", "2026-10-07"),  # National Day golden week
    ],
}
MAKEUP_WORKDAYS: dict[int, list[str]] = {
    2025: ["2025-01-26", "2025-02-08", "2025-04-27", "2025-09-28", "2025-10-11"],
    2026: ["2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10"],
}
# The long breaks, when much of the city leaves: traffic is lightest and hotline quietest.
GOLDEN_WEEKS = [("2025-01-28", "2025-02-04"), ("2025-10-01", "2025-10-08")]
GOLDEN_WEEKS += [("2026-02-15", "2026-02-23"), ("2026-10-01", "2026-10-07")]

WORKDAY, WEEKEND, HOLIDAY, GOLDEN = 0, 1, 2, 3


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
    """
    days = days.astype("datetime64[D]")
    weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday; Monday == 0
    kinds = np.where(weekday >= 5, WEEKEND, WORKDAY)
    years = {int(str(d)[:4]) for d in (days.min(), days.max())} if days.size else set()
    for year in range(min(years, default=0), max(years, default=-1) + 1):
        for first, last in HOLIDAYS.get(year, _fallback_holidays(year)):
            kinds = np.where(np.isin(days, _day_range(first, last)), HOLIDAY, kinds)
        makeup = np.array(MAKEUP_WORKDAYS.get(year, []), dtype="datetime64[D]")
        kinds = np.where(np.isin(days, makeup), WORKDAY, kinds)
    for first, last in GOLDEN_WEEKS:
        kinds = np.where(np.isin(days, _day_range(first, last)), GOLDEN, kinds)
    return kinds


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
