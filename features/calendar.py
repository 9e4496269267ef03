"""Calendar features in local time (the city's, Asia/Shanghai, unless the task's
``features.timezone`` names another zone), at the forecast's target time.

Each feature is an expression ``cal_<name>`` (Int32) on a UTC time column; the local date of the
time decides its day. The day features (``holiday``, ``workday``, ``school_term``,
``spring_festival``) come from the task's :class:`DayCalendar`: China's official table
(:mod:`features.holidays`) unless ``features.country`` names another country, whose holidays
and weekend come from the ``holidays`` package; 1/0 for the flags, and for ``spring_festival``
the signed days to the nearest Spring Festival (positive before it), clipped to +-30. Outside
China's table (2015-2027) no day is a holiday and working days follow the weekday (a warning
is logged once).
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from features.day_calendar import DayCalendar
from features.holidays import DAY_TABLE_SCHEMA
from features.schemas import LOCAL_TZ

_CHINA = DayCalendar()


def _day(column: str) -> Callable[[pl.Expr, DayCalendar], pl.Expr]:
    """A day-table column for each local time, looked up by its local date."""

    def expr(local: pl.Expr, days: DayCalendar) -> pl.Expr:
        return (
            local.dt.date()
            .map_batches(
                lambda dates: days.lookup(dates, column),
                return_dtype=DAY_TABLE_SCHEMA[column],
                is_elementwise=True,
            )
            .cast(pl.Int32)
        )

    return expr


def _clock(f: Callable[[pl.Expr], pl.Expr]) -> Callable[[pl.Expr, DayCalendar], pl.Expr]:
    """A feature of the local clock alone (whatever the country)."""
    return lambda local, days: f(local)


_EXPRESSIONS: dict[str, Callable[[pl.Expr, DayCalendar], pl.Expr]] = {
    "hour": _clock(lambda t: t.dt.hour().cast(pl.Int32)),
    "weekday": _clock(lambda t: t.dt.weekday().cast(pl.Int32)),
    "month": _clock(lambda t: t.dt.month().cast(pl.Int32)),
    "doy": _clock(lambda t: t.dt.ordinal_day().cast(pl.Int32)),
    "minute_of_day": _clock(
        lambda t: t.dt.hour().cast(pl.Int32) * 60 + t.dt.minute().cast(pl.Int32)
    ),
    # 0 = Monday 00:00 .. 167 = Sunday 23:00
    "hour_of_week": _clock(
        lambda t: (t.dt.weekday().cast(pl.Int32) - 1) * 24 + t.dt.hour().cast(pl.Int32)
    ),
    "holiday": _day("is_holiday"),
    "workday": _day("is_workday"),
    "school_term": _day("school_term"),
    "spring_festival": _day("days_to_spring_festival"),
}


CALENDAR_FEATURES = frozenset(_EXPRESSIONS)


def calendar_columns(
    names: tuple[str, ...],
    *,
    column: str = "ts",
    tz: str = LOCAL_TZ,
    days: DayCalendar = _CHINA,
) -> list[pl.Expr]:
    """Expressions ``cal_<name>`` for a UTC time column, read on the clock of zone ``tz`` and
    the holidays and working days of ``days`` (China's by default)."""
    local = pl.col(column).dt.convert_time_zone(tz)
    return [_EXPRESSIONS[n](local, days).alias(f"cal_{n}") for n in names]


def with_calendar(
    frame: pl.DataFrame,
    names: tuple[str, ...],
    *,
    column: str = "ts",
    tz: str = LOCAL_TZ,
    days: DayCalendar = _CHINA,
) -> pl.DataFrame:
    """``frame`` with the columns ``cal_<name>`` added (same as ``calendar_columns``)."""
    return frame.with_columns(calendar_columns(names, column=column, tz=tz, days=days))
