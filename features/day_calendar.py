"""Whose days a task's calendar reads: which are public holidays and which are working days.

China's official calendar (:mod:`features.holidays`, with its make-up working days, 调休) is the
default and stays the tested reference for Chinese cities. Any other city names its country (and
subdivision, where holidays differ by state or province) from the well-kept ``holidays``
package, which covers about 150 countries and their subdivisions with their own weekends
(Friday and Saturday in Israel, say). A config may add dates of its own either way: a holiday
the table does not know yet (a typhoon day off, a new notice) or a working day.

``school_term`` and ``spring_festival`` are China's (Fuzhou's school terms, the lunar new year);
a task on another country's calendar cannot ask for them (its config is refused, saying so).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cache

import holidays as world_holidays
import polars as pl

from features import holidays as china

CHINA = "CN"
CHINA_ONLY = frozenset({"school_term", "spring_festival"})  # day features only China's table has


def supported_countries() -> dict[str, list[str]]:
    """Country code -> its subdivision codes, as the ``holidays`` package knows them."""
    return dict(world_holidays.list_supported_countries())


@cache
def _holidays_of(
    country: str, subdivision: str | None, years: tuple[int, ...]
) -> tuple[frozenset[date], frozenset[int]]:
    """The country's holidays over ``years`` as (dates, weekend days 0=Monday); cached, as every
    feature build over the same years asks again."""
    found = world_holidays.country_holidays(country, subdiv=subdivision, years=years)
    return frozenset(found.keys()), frozenset(getattr(found, "weekend", {5, 6}))


@dataclass(frozen=True)
class DayCalendar:
    """A country's public holidays and working days, with dates a config adds."""

    country: str = CHINA
    subdivision: str | None = None
    extra_holidays: tuple[date, ...] = ()
    extra_workdays: tuple[date, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        """The day-table columns this calendar answers."""
        if self.country == CHINA:
            return tuple(c for c in china.DAY_TABLE_SCHEMA if c != "date")
        return ("is_holiday", "is_workday")

    def lookup(self, dates: pl.Series, column: str) -> pl.Series:
        """``column`` (``is_holiday``, ``is_workday``, and for China the other day-table
        columns) for each date of ``dates``, in order; nulls stay null."""
        if column not in self.columns:
            raise ValueError(f"the {self.country} calendar has no {column!r}")
        found = china.lookup(dates, column) if self.country == CHINA else self._world(dates, column)
        return self._with_extras(dates, found, column)

    def _world(self, dates: pl.Series, column: str) -> pl.Series:
        valid = dates.drop_nulls()
        if valid.is_empty():
            return pl.Series(dates.name, [None] * dates.len(), dtype=pl.Boolean)
        first, last = valid.min(), valid.max()
        assert isinstance(first, date) and isinstance(last, date)
        years = tuple(range(first.year, last.year + 1))
        days_off, weekend = _holidays_of(self.country, self.subdivision, years)
        frame = dates.to_frame("date").with_columns(
            pl.col("date").is_in(pl.Series(sorted(days_off), dtype=pl.Date).implode()).alias("h")
        )
        if column == "is_holiday":
            expr = pl.col("h")
        else:  # weekday() is 1 = Monday in Polars, 0 = Monday in the package
            on_weekend = (pl.col("date").dt.weekday() - 1).is_in(sorted(weekend))
            expr = ~pl.col("h") & ~on_weekend
        expr = pl.when(pl.col("date").is_null()).then(None).otherwise(expr)
        return frame.select(expr.alias(dates.name)).to_series()

    def _with_extras(self, dates: pl.Series, values: pl.Series, column: str) -> pl.Series:
        if column not in ("is_holiday", "is_workday"):
            return values
        off = pl.Series(sorted(self.extra_holidays), dtype=pl.Date)
        on = pl.Series(sorted(self.extra_workdays), dtype=pl.Date)
        if off.is_empty() and on.is_empty():
            return values
        frame = pl.DataFrame({"date": dates, "v": values})
        is_off, is_on = pl.col("date").is_in(off.implode()), pl.col("date").is_in(on.implode())
        if column == "is_holiday":
            expr = pl.when(is_off).then(True).when(is_on).then(False).otherwise(pl.col("v"))
        else:
            expr = pl.when(is_off).then(False).when(is_on).then(True).otherwise(pl.col("v"))
        return frame.select(expr.alias(dates.name)).to_series()
