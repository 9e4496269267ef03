"""Observations on a regular time grid, with the missing-data rules stated in one place.

Rules (never silently zero):
- A value counts only if it arrived on time: ``received_at`` null (the signal's usual latency)
  or within that latency. Late arrivals stay in the store and in the quality report but are
  left out of features, so a panel at origin ``t`` is the same whether computed in a batch
  long after ``t`` or online at ``t``.
- Values out of the signal's physical range are masked (null), not clipped.
- Each value lands in the bin ``(t - step, t]`` labelled ``t``; rain adds up, levels take the
  last value, speeds and flows the mean. Bins with no value are null.
- Levels are forward-filled for at most ``fill_limit``; rain is never filled: window sums need
  at least 80 % of their bins present, otherwise they are null (LightGBM treats null as missing).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from features.schemas import SIGNALS, UTC_TS
from features.tables import signal_latency_s

_MIN_PRESENT = 0.8


def punctual(observations: pl.DataFrame, series: pl.DataFrame) -> pl.DataFrame:
    """Observations that arrived within their signal's latency, with out-of-range values masked."""
    bounds = series.select(
        "series_id",
        pl.col("signal")
        .replace_strict(
            {k: v.low for k, v in SIGNALS.items()}, default=None, return_dtype=pl.Float64
        )
        .alias("low"),
        pl.col("signal")
        .replace_strict(
            {k: v.high for k, v in SIGNALS.items()}, default=None, return_dtype=pl.Float64
        )
        .alias("high"),
    ).join(signal_latency_s(series), on="series_id")
    return (
        observations.join(bounds, on="series_id", how="inner")
        .filter(
            pl.col("received_at").is_null()
            | (pl.col("received_at") <= pl.col("ts") + pl.duration(seconds=pl.col("latency_s")))
        )
        .with_columns(
            pl.when(
                pl.col("value").is_finite()
                & (pl.col("low").is_null() | (pl.col("value") >= pl.col("low")))
                & (pl.col("high").is_null() | (pl.col("value") <= pl.col("high")))
            )
            .then(pl.col("value"))
            .otherwise(None)
            .alias("value")
        )
        .select("series_id", "ts", "value")
    )


def time_axis(start: datetime, end: datetime, step: timedelta) -> pl.Series:
    """Grid time stamps from ``start`` to ``end`` inclusive (both on the grid)."""
    return pl.datetime_range(start, end, step, time_unit="us", time_zone="UTC", eager=True).alias(
        "ts"
    )


def floor_to_grid(t: datetime, step: timedelta) -> datetime:
    """The grid time at or before ``t`` (grids are aligned to the Unix epoch in UTC)."""
    epoch = datetime(1970, 1, 1, tzinfo=t.tzinfo)
    return t - (t - epoch) % step


def regular_grid(
    observations: pl.DataFrame,
    *,
    aggregation: str,
    step: timedelta,
    start: datetime,
    end: datetime,
    key: str = "series_id",
    keys: Sequence[str] | None = None,
) -> pl.DataFrame:
    """``key, ts, value`` on a complete grid, sorted by key and time.

    ``observations`` hold ``key, ts, value`` (punctual and masked already). The grid has every
    key in ``keys`` (default: the keys present), including keys without a single value. Values
    are binned by integer position and scattered into one dense column, which is much cheaper
    than joining a cross product of keys and times on string keys.
    """
    step_us = int(step / timedelta(microseconds=1))
    axis = time_axis(start, end, step)
    n_bins = axis.len()
    names = (
        sorted(set(keys))
        if keys is not None
        else sorted(observations[key].unique().drop_nulls().to_list())
    )
    codes = pl.DataFrame(
        {key: names, "_code": np.arange(len(names), dtype=np.int64)},
        schema={key: pl.String, "_code": pl.Int64},
    )
    start_us = int((start - datetime(1970, 1, 1, tzinfo=start.tzinfo)) / timedelta(microseconds=1))
    placed = (
        observations.filter((pl.col("ts") > start - step) & (pl.col("ts") <= end))
        .join(codes, on=key, how="inner")
        .with_columns(
            (
                ((pl.col("ts").dt.epoch("us") - 1) // step_us * step_us + step_us - start_us)
                // step_us
            ).alias("_bin"),
            (pl.col("ts").dt.epoch("us") % step_us == 0).alias("_aligned"),
        )
    )
    if placed["_aligned"].all():
        # keys are unique per (series, ts), so on-grid stamps give one value per bin
        binned = placed.select("_code", "_bin", "value")
    else:
        binned = placed.sort("_code", "ts").group_by("_code", "_bin").agg(_aggregate(aggregation))
    dense = (
        pl.Series("value", [None], dtype=pl.Float64).extend_constant(None, len(names) * n_bins - 1)
        if names
        else pl.Series("value", [], dtype=pl.Float64)
    )
    if binned.height:
        pos = (binned["_code"] * n_bins + binned["_bin"]).to_numpy()
        dense = dense.scatter(pos, binned["value"])
    key_idx = np.repeat(np.arange(len(names)), n_bins)
    time_idx = np.tile(np.arange(n_bins), len(names))
    return pl.DataFrame(
        {
            key: pl.Series(key, names, dtype=pl.String).gather(key_idx),
            "ts": axis.gather(time_idx).cast(UTC_TS),
            "value": dense,
        }
    )


def with_blocks(grid: pl.DataFrame, key: str) -> pl.DataFrame:
    """Add ``_block``, a sorted integer id of each key's run in a grid sorted by key.

    Window expressions partition ``over("_block")``: a sorted integer partition is several
    times cheaper than hashing the string key for every expression.
    """
    return grid.with_columns(pl.col(key).rle_id().cast(pl.Int32).set_sorted().alias("_block"))


def _aggregate(aggregation: str) -> pl.Expr:
    value = pl.col("value")
    if aggregation == "sum":
        # a bin of all-null values stays null rather than becoming 0
        return pl.when(value.is_not_null().any()).then(value.sum()).otherwise(None).alias("value")
    if aggregation == "mean":
        return value.mean().alias("value")
    return value.drop_nulls().last().alias("value")


def steps(window: timedelta, step: timedelta) -> int:
    """A window as a whole number of grid steps (at least one)."""
    return max(1, math.ceil(window / step))


def window_sum(column: str, n: int, *, key: str = "series_id") -> pl.Expr:
    """Sum over the last ``n`` bins, null unless at least 80 % of them are present.

    Rounded to 9 decimals: a running sum carries float residue from values that left the window
    long ago (-2e-15 after a storm), which would make the same origin's feature depend on how
    far back a batch started; rounding makes batch and online agree.
    """
    return (
        pl.col(column)
        .rolling_sum(window_size=n, min_samples=max(1, math.ceil(_MIN_PRESENT * n)))
        .over(key)
        .round(9)
    )


def window_max(column: str, n: int, *, key: str = "series_id") -> pl.Expr:
    return (
        pl.col(column)
        .rolling_max(window_size=n, min_samples=max(1, math.ceil(_MIN_PRESENT * n)))
        .over(key)
    )


def window_stat(
    column: str, stat: str, n: int, *, key: str = "series_id", q: float | None = None
) -> pl.Expr:
    """A rolling statistic over the last ``n`` bins with the 80 %-present rule."""
    if stat == "sum":
        return window_sum(column, n, key=key)
    min_samples = max(1, math.ceil(_MIN_PRESENT * n))
    col = pl.col(column)
    if stat == "mean":
        expr = col.rolling_mean(window_size=n, min_samples=min_samples)
    elif stat == "std":
        expr = col.rolling_std(window_size=n, min_samples=max(2, min_samples))
    elif stat == "max":
        expr = col.rolling_max(window_size=n, min_samples=min_samples)
    elif stat == "min":
        expr = col.rolling_min(window_size=n, min_samples=min_samples)
    elif stat == "quantile":
        expr = col.rolling_quantile(
            quantile=q or 0.5, window_size=n, min_samples=min_samples, interpolation="linear"
        )
    else:
        raise ValueError(f"unknown window statistic {stat!r}")
    return expr.over(key).round(9)


def antecedent_index(
    column: str, step: timedelta, *, days: int, k: float, key: str = "series_id"
) -> pl.Expr:
    """Antecedent precipitation index: sum over d < days of k**d x (rain in day d back).

    Day d is the 24 h window ending d days before the bin; finite memory keeps batch and
    online identical.
    """
    per_day = steps(timedelta(days=1), step)
    total = pl.lit(0.0)
    for d in range(days):
        upto = window_sum(column, (d + 1) * per_day, key=key)
        before = window_sum(column, d * per_day, key=key) if d else pl.lit(0.0)
        total = total + (k**d) * (upto - before)
    return total.round(9)


def hours_since(
    column: str, step: timedelta, *, cap: timedelta, threshold: float = 0.1, key: str = "series_id"
) -> pl.Expr:
    """Hours since the value last exceeded ``threshold``, capped at ``cap`` (null if the whole
    capped window is missing)."""
    n = steps(cap, step)
    wet = (pl.col(column) > threshold).cast(pl.Int32)
    # index of the bin within the series; the last wet index inside the window
    idx = pl.int_range(pl.len()).over(key)
    last_wet = pl.when(wet == 1).then(idx).otherwise(None).forward_fill(limit=n - 1).over(key)
    seen = (
        pl.col(column)
        .is_not_null()
        .cast(pl.Int32)
        .rolling_sum(window_size=n, min_samples=1)
        .over(key)
    )
    hours = (idx - last_wet) * (step / timedelta(hours=1))
    cap_h = cap / timedelta(hours=1)
    return (
        pl.when(seen.is_null() | (seen == 0))
        .then(None)
        .when(last_wet.is_null())
        .then(cap_h)
        .otherwise(pl.min_horizontal(hours, pl.lit(cap_h)))
        .cast(pl.Float64)
    )
