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

import itertools
import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

import numpy as np
import polars as pl

from features.errors import DataError
from features.schemas import SIGNALS, UTC_TS
from features.threads import thread_budget

MIN_PRESENT = 0.8  # a window needs this share of its bins present
T = TypeVar("T")


@dataclass(frozen=True)
class Readings:
    """Punctual observations as arrays, the form that goes onto grids by position.

    ``code[i]`` indexes ``names`` (the series of reading ``i``), ``ts_us`` is its time stamp in
    epoch microseconds and ``value`` its value, NaN where null or masked. Binning these by
    integer position replaces joins and group-bys on string keys.
    """

    names: tuple[str, ...]
    code: np.ndarray
    ts_us: np.ndarray
    value: np.ndarray


def series_codes(ids: pl.Series, names: Sequence[str]) -> np.ndarray:
    """Position of each id in ``names`` (-1 if absent or null).

    Each run of equal ids is looked up once: observations come grouped by series, so this
    hashes a few hundred strings instead of one per row (and is still right when they do not).
    """
    if ids.is_empty():
        return np.empty(0, dtype=np.int32)
    runs = ids.rle()
    lookup = {name: i for i, name in enumerate(names)}
    codes = (
        runs.struct.field("value")
        .replace_strict(lookup, default=-1, return_dtype=pl.Int32)
        .fill_null(-1)
        .to_numpy()
    )
    return np.repeat(codes, runs.struct.field("len").to_numpy())


_NO_TIME = -(2**62)  # a null time stamp: before any grid, so it never lands in a bin


def _epoch_us(ts: pl.Series) -> np.ndarray:
    """Epoch microseconds of a time column (zero-copy for microsecond columns without nulls)."""
    us = ts.dt.epoch("us")
    return (us.fill_null(_NO_TIME) if us.null_count() else us).to_numpy()


def _punctual_mask(observations: pl.DataFrame, series: pl.DataFrame) -> Readings:
    """Every row's series code and masked value, and (as ``code == -1``) the rows to drop:
    series outside the catalog and values received after their signal's latency."""
    names = tuple(series["series_id"].to_list())
    signals = series["signal"].to_list()
    code = series_codes(observations["series_id"], names)
    ts = _epoch_us(observations["ts"])
    received = observations["received_at"]
    if names and received.null_count() < received.len():
        latency_us = np.array([SIGNALS[s].latency_s if s in SIGNALS else 0 for s in signals])
        late = received.is_not_null().to_numpy() & (
            received.dt.epoch("us").fill_null(0).to_numpy()
            > ts + latency_us[np.maximum(code, 0)] * 1_000_000
        )
        code = np.where(late, -1, code)
    value = observations["value"].cast(pl.Float64).to_numpy()
    low, high = _bounds(signals)
    masked = np.empty(len(value))

    def mask(part: slice) -> None:
        v, lo, hi = value[part], low, high
        if isinstance(low, np.ndarray) and isinstance(high, np.ndarray):
            where = np.maximum(code[part], 0)
            lo, hi = low[where], high[where]
        with np.errstate(invalid="ignore"):
            ok = (v >= lo) & (v <= hi)  # NaN fails both
        if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
            ok &= np.isfinite(v)
        out = masked[part]
        out[...] = v
        np.copyto(out, np.nan, where=~ok)

    in_chunks(len(value), mask)
    return Readings(names, code, ts, masked)


def _bounds(signals: list[str]) -> tuple[np.ndarray | float, np.ndarray | float]:
    """Each series' physical range (one scalar pair when all series share one)."""
    if not signals:
        return -np.inf, np.inf
    low = np.array([SIGNALS[s].low if s in SIGNALS else None for s in signals], dtype=float)
    high = np.array([SIGNALS[s].high if s in SIGNALS else None for s in signals], dtype=float)
    low, high = np.nan_to_num(low, nan=-np.inf), np.nan_to_num(high, nan=np.inf)
    if (low == low[0]).all() and (high == high[0]).all():
        return float(low[0]), float(high[0])
    return low, high


def punctual_readings(observations: pl.DataFrame, series: pl.DataFrame) -> Readings:
    """``punctual`` as arrays: the observations of ``series`` that arrived within their
    signal's latency, out-of-range values masked to NaN."""
    r = _punctual_mask(observations, series)
    keep = r.code >= 0
    if keep.all():
        return r
    return Readings(r.names, r.code[keep], r.ts_us[keep], r.value[keep])


def punctual(observations: pl.DataFrame, series: pl.DataFrame) -> pl.DataFrame:
    """Observations that arrived within their signal's latency, with out-of-range values masked."""
    r = _punctual_mask(observations, series)
    out = observations.select(
        "series_id", "ts", pl.Series("value", r.value, dtype=pl.Float64, nan_to_null=True)
    )
    keep = r.code >= 0
    return out if keep.all() else out.filter(pl.Series(keep))


def time_axis(start: datetime, end: datetime, step: timedelta) -> pl.Series:
    """Grid time stamps from ``start`` to ``end`` inclusive (both on the grid)."""
    return pl.datetime_range(start, end, step, time_unit="us", time_zone="UTC", eager=True).alias(
        "ts"
    )


def time_span(ts: pl.Series) -> tuple[datetime, datetime]:
    """The first and last time of a series of time stamps (nulls ignored; it must hold one)."""
    first, last = ts.min(), ts.max()
    if not isinstance(first, datetime) or not isinstance(last, datetime):
        raise ValueError(f"{ts.name!r} holds no time stamps")
    return first, last


def floor_to_grid(t: datetime, step: timedelta) -> datetime:
    """The grid time at or before ``t`` (grids are aligned to the Unix epoch in UTC)."""
    epoch = datetime(1970, 1, 1, tzinfo=t.tzinfo)
    return t - (t - epoch) % step


def _us(d: timedelta) -> int:
    return d // timedelta(microseconds=1)


def in_chunks(n: int, fn: Callable[[slice], T], *, size: int = 1 << 20) -> list[T]:
    """``fn`` over consecutive slices of ``range(n)`` of about ``size`` each, on all cores
    (numpy releases the GIL inside its loops); the results in order. Small slices keep the
    temporaries of each call small."""
    parts = max(1, -(-n // max(size, 1)))
    bounds = [n * i // parts for i in range(parts + 1)]
    slices = [slice(a, b) for a, b in itertools.pairwise(bounds)]
    threads = thread_budget()
    if parts == 1 or threads == 1:
        return [fn(part) for part in slices]
    with ThreadPoolExecutor(min(parts, threads)) as pool:
        return list(pool.map(fn, slices))


def dense_values(
    readings: Readings,
    keys: Sequence[str],
    *,
    aggregation: str | None,
    step: timedelta,
    start: datetime,
    end: datetime,
    signal: str = "",
) -> np.ndarray:
    """``(len(keys), n_bins)``: the readings of each key in the bins labelled ``start``,
    ``start + step``, ... ``end`` (NaN where a bin has no value).

    A reading at ``ts`` lands in the bin of the grid time at or after it (``(t - step, t]``);
    several in one bin are aggregated (``sum``, ``mean``, ``max`` or the ``last`` present value
    in time). With ``aggregation`` None (``signal`` declares none) a bin that several readings
    fall in is refused rather than guessed: a day's calls are not its last hour's.

    Raises:
        DataError: several readings in one bin of a signal without a declared aggregation.
    """
    step_us = _us(step)
    n_bins = max(0, _us(end - start) // step_us + 1)
    start_us = _us(start - datetime(1970, 1, 1, tzinfo=start.tzinfo))
    rows = _rows(readings, keys)
    n = len(readings.ts_us)
    out = np.full(len(keys) * n_bins, np.nan)

    def locate(part: slice) -> tuple[np.ndarray, np.ndarray, bool]:
        """Flat positions of a part of the readings, which of them are on this grid, and
        whether all sit on a bin's own time stamp (then one reading per bin)."""
        since = readings.ts_us[part] - start_us
        bins = since // step_us
        on_grid = bins * step_us == since
        exact = bool(on_grid.all())
        if not exact:
            bins += ~on_grid  # the grid time at or after the reading: (t - step, t] is bin t
        # one unsigned comparison also rejects negative bins; rows are -1 for other series
        ok = bins.view(np.uint64) < n_bins
        if rows is not readings.code:
            ok &= rows[part] >= 0
        pos = np.multiply(rows[part], n_bins, out=since, dtype=np.int64)
        pos += bins
        return pos, ok, exact

    def place(part: slice) -> bool:
        """Scatter a part if it needs no aggregation; whether it did."""
        pos, ok, exact = locate(part)
        if exact:
            value = readings.value[part]
            if not ok.all():
                pos, value = pos[ok], value[ok]
            out[pos] = value  # unique (series, ts): parts write disjoint bins
        return exact

    if not all(in_chunks(n, place)):
        # readings between grid times: a bin may hold several, so aggregate them all
        out[:] = np.nan
        located = in_chunks(n, locate)
        keep = np.concatenate([ok for _, ok, _ in located])
        positions = np.concatenate([pos for pos, _, _ in located])[keep]
        present = positions[~np.isnan(readings.value[keep])]
        if aggregation is None and len(np.unique(present)) < len(present):
            raise DataError(
                f"signal {signal!r} has several readings in one {step} bin of the task's grid "
                "and no declared aggregation, so the product would have to guess how to add "
                "them up: "
                f"declare it in the task (features.aggregation: {{{signal}: sum}}, or mean, "
                "max, last: sum for counts and rain, mean or last for levels, max for depths)",
                column="value",
            )
        how = aggregation or "last"  # undeclared, but one reading per bin: nothing to guess
        _aggregate_into(out, positions, readings.ts_us[keep], readings.value[keep], how)
    return out.reshape(len(keys), n_bins)


def _rows(readings: Readings, keys: Sequence[str]) -> np.ndarray:
    """Each reading's row among ``keys`` (-1 if its series is not one of them); the codes
    themselves when the readings' series are the keys, in order (no gather needed)."""
    names = readings.names
    if tuple(keys[: len(names)]) == names and (readings.code >= 0).all():
        return readings.code
    index = {k: i for i, k in enumerate(keys)}
    row_of_code = np.array([index.get(n, -1) for n in names] + [-1], dtype=np.int64)
    return row_of_code[readings.code]  # code -1 reads the trailing -1


def _aggregate_into(
    out: np.ndarray, pos: np.ndarray, ts: np.ndarray, value: np.ndarray, aggregation: str
) -> None:
    """Bins holding several readings: null values never count; a bin of only nulls stays null
    (rain adds up, but never from nothing to 0)."""
    present = ~np.isnan(value)
    pos, ts, value = pos[present], ts[present], value[present]
    order = np.lexsort((ts, pos))  # by bin, then time: sums add in time order
    pos, value = pos[order], value[order]
    if aggregation == "last":
        last = np.ones(len(pos), dtype=bool)
        last[:-1] = pos[1:] != pos[:-1]
        out[pos[last]] = value[last]
        return
    bins, first = np.unique(pos, return_index=True)
    if aggregation == "max":
        out[bins] = np.maximum.reduceat(value, first) if len(first) else value[:0]
        return
    sums = np.add.reduceat(value, first) if len(first) else value[:0]
    if aggregation == "mean":
        counts = np.diff(np.append(first, len(pos)))
        sums = sums / counts
    out[bins] = sums


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
    key in ``keys`` (default: the keys present), including keys without a single value.
    """
    names = (
        sorted(set(keys))
        if keys is not None
        else sorted(observations[key].unique().drop_nulls().to_list())
    )
    readings = Readings(
        tuple(names),
        series_codes(observations[key], names),
        _epoch_us(observations["ts"]),
        observations["value"].cast(pl.Float64).to_numpy(),
    )
    values = dense_values(readings, names, aggregation=aggregation, step=step, start=start, end=end)
    return long_frame(values, names, start, step, key)


def long_frame(
    values: np.ndarray, ids: Sequence[str], start: datetime, step: timedelta, key: str
) -> pl.DataFrame:
    """``key, ts, value`` in long form from a ``(len(ids), n_bins)`` matrix (null where NaN)."""
    n_keys, n_bins = values.shape
    axis = time_axis(start, start + max(n_bins - 1, 0) * step, step).head(n_bins)
    key_idx = pl.Series(np.repeat(np.arange(n_keys, dtype=np.uint32), n_bins))
    time_idx = pl.Series(np.tile(np.arange(n_bins, dtype=np.uint32), n_keys))
    return pl.DataFrame(
        {
            key: pl.Series(key, list(ids), dtype=pl.String).gather(key_idx),
            "ts": axis.gather(time_idx).cast(UTC_TS),
            "value": pl.Series("value", values.ravel(), dtype=pl.Float64, nan_to_null=True),
        }
    )


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
        .rolling_sum(window_size=n, min_samples=max(1, math.ceil(MIN_PRESENT * n)))
        .over(key)
        .round(9)
    )


def window_max(column: str, n: int, *, key: str = "series_id") -> pl.Expr:
    return (
        pl.col(column)
        .rolling_max(window_size=n, min_samples=max(1, math.ceil(MIN_PRESENT * n)))
        .over(key)
    )


def window_stat(
    column: str, stat: str, n: int, *, key: str = "series_id", q: float | None = None
) -> pl.Expr:
    """A rolling statistic over the last ``n`` bins with the 80 %-present rule."""
    if stat == "sum":
        return window_sum(column, n, key=key)
    min_samples = max(1, math.ceil(MIN_PRESENT * n))
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
