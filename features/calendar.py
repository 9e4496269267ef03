"""Calendar features in the city's local time (Asia/Shanghai), at the forecast's target time."""

from __future__ import annotations

import polars as pl

from features.schemas import LOCAL_TZ

_EXPRESSIONS = {
    "hour": lambda t: t.dt.hour().cast(pl.Int32),
    "weekday": lambda t: t.dt.weekday().cast(pl.Int32),
    "month": lambda t: t.dt.month().cast(pl.Int32),
    "doy": lambda t: t.dt.ordinal_day().cast(pl.Int32),
}


CALENDAR_FEATURES = frozenset(_EXPRESSIONS)


def calendar_columns(names: tuple[str, ...], *, column: str = "ts") -> list[pl.Expr]:
    """Expressions ``cal_<name>`` for a UTC time column, read in local time."""
    local = pl.col(column).dt.convert_time_zone(LOCAL_TZ)
    return [_EXPRESSIONS[n](local).alias(f"cal_{n}") for n in names]
