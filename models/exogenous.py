"""The absolute step grid and the known-ahead regressors of the ``sarimax`` family.

SARIMAX takes exogenous regressors that are known ahead: a constant (used without
differencing), ``fourier`` daily harmonics (sin and cos of the local time of day, which stand
in for the daily cycle with 2K coefficients instead of a seasonal state per step) and the
``calendar`` flags of :mod:`features.holidays` (``holiday``, ``workday``, ``school_term``),
all in the task's time zone. They are computed once per fit or predict over the span of
history it covers and handed to the workers as one matrix.

Rain (``rain``: an observed covariate of the task, such as the gauge linked to a ponding
sensor) enters as its trailing sums over ``rain_windows`` (say 1, 3 and 6 hours), a distributed
lag with a few coefficients, per series. Over the history it is the observed rain at each step
(``TargetHistory`` carries it when asked, cut at the origin like the target). Over the forecast
path the sums run on: observed rain up to the origin, then the rain the weather service
forecast for each step after it. The frame's known-ahead column (``rain_forecast``) holds the
forecast summed from the origin to each horizon, as issued at or before the origin;
:func:`forecast_steps` spreads the increments between horizons evenly over their steps (exact
for hourly forecasts at hourly horizons). Without a forecast the future rain is taken as none.
Missing observed rain counts as none, as the window features of the tabular families do.

The absolute bin (the step index counted from the Unix epoch) is here too: it aligns ETS's
season by phase and the regressor rows with each window, whatever history was handed over.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import polars as pl

from features import TargetHistory, calendar_columns
from models.series_state import _Config

CALENDAR_REGRESSORS = ("holiday", "workday", "school_term")


def absolute_bin(hist: TargetHistory) -> int:
    """The index of the history's first bin on the step grid counted from the Unix epoch."""
    step_us = int(hist.step / timedelta(microseconds=1))
    return int(hist.start.timestamp() * 1_000_000) // step_us


def grid_times(hist: TargetHistory, first: int, last: int) -> pl.Series:
    """The UTC times of the history's bins ``first`` to ``last`` (inclusive), which may run
    past its end: the regressors are known ahead."""
    return pl.datetime_range(
        hist.start + first * hist.step,
        hist.start + last * hist.step,
        hist.step,
        time_unit="us",
        time_zone="UTC",
        eager=True,
    ).alias("ts")


def regressors(ts: pl.Series, cfg: _Config) -> np.ndarray:
    """The known-ahead regressors at each time: constant, daily Fourier terms, calendar flags."""
    local = ts.dt.convert_time_zone(cfg.timezone)
    day = (
        local.dt.hour().cast(pl.Float64) * 3600
        + local.dt.minute().cast(pl.Float64) * 60
        + local.dt.second().cast(pl.Float64)
    ).to_numpy() / 86_400.0
    cols = [np.ones(ts.len())]
    for k in range(1, cfg.fourier + 1):
        cols += [np.sin(2 * np.pi * k * day), np.cos(2 * np.pi * k * day)]
    if cfg.calendar:
        flags = (
            ts.to_frame()
            .select(calendar_columns(cfg.calendar, tz=cfg.timezone, days=cfg.days))
            .to_numpy()
        )
        cols += list(flags.astype(np.float64).T)
    return np.column_stack(cols)


# --- rain ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RainPath:
    """Rain step by step around a set of origins.

    ``observed`` ``(n, lead + length)``: observed rain up to and including each origin (its
    last column), ``lead`` = the longest rain window less one step before the first step
    filtered; ``future`` ``(n, max_h)``: the forecast rain of each step after the origin."""

    observed: np.ndarray
    future: np.ndarray


@dataclass(frozen=True)
class Regressors:
    """What SARIMAX regresses on for a set of windows: ``shared`` (constant, Fourier terms,
    calendar flags), one row per bin from absolute bin ``first_abs`` on, and ``rain`` around
    each window's origin (None without rain)."""

    shared: np.ndarray
    first_abs: int
    rain: RainPath | None = None


@dataclass(frozen=True)
class FitRain:
    """Rain for one series' fit: ``steps`` observed over the fit data (with ``lead`` steps
    before its first bin); ``origins`` (positions in the fit data) and ``future`` their
    forecast rain, for the in-sample forecasts that set the intervals (None: strided origins,
    no forecast)."""

    steps: np.ndarray
    origins: np.ndarray | None = None
    future: np.ndarray | None = None


def trailing_sums(steps: np.ndarray, windows: tuple[int, ...]) -> np.ndarray:
    """``(..., positions, len(windows))``: at each position from ``max(windows) - 1`` on, the
    sum of the last ``w`` steps of ``steps`` along its last axis (missing rain counts as none)."""
    lead = max(windows) - 1
    x = np.nan_to_num(steps, nan=0.0)
    cs = np.concatenate([np.zeros((*x.shape[:-1], 1)), np.cumsum(x, axis=-1)], axis=-1)
    end = np.arange(lead, x.shape[-1]) + 1
    return np.stack([cs[..., end] - cs[..., end - w] for w in windows], axis=-1)


def rain_columns(path: RainPath, windows: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The rain regressors ``(n, length, k)`` over each filtered window and ``(n, max_h, k)``
    over the forecast path (observed up to the origin, forecast after it)."""
    length = path.observed.shape[1] - (max(windows) - 1)
    sums = trailing_sums(np.concatenate([path.observed, path.future], axis=1), windows)
    return sums[:, :length], sums[:, length:]


def forecast_steps(
    frame: pl.DataFrame, column: str, step: timedelta, max_h: int
) -> tuple[pl.DataFrame, np.ndarray]:
    """The forecast rain of each step after each origin of ``frame``: the ``(series_id,
    origin)`` pairs (sorted) and a ``(pairs, max_h)`` matrix.

    ``column`` holds the forecast summed from the origin to each row's horizon; between two
    horizons the increment is spread evenly over the steps, after the last horizon held (or
    where no forecast was issued) the rain is taken as none.
    """
    step_us = int(step / timedelta(microseconds=1))
    rows = frame.select(
        "series_id",
        "origin",
        (pl.col("horizon").dt.total_microseconds() // step_us).alias("_h"),
        pl.col(column).cast(pl.Float64).fill_nan(None).alias("_v"),
    ).filter((pl.col("_h") >= 1) & (pl.col("_h") <= max_h))
    knots = sorted(rows["_h"].unique().to_list())
    wide = rows.pivot(
        on="_h", index=["series_id", "origin"], values="_v", aggregate_function="first"
    ).sort("series_id", "origin")
    n = wide.height
    cum = np.zeros((n, len(knots) + 1))
    for j, h in enumerate(knots, start=1):
        value = wide[str(h)].to_numpy().astype(np.float64)
        # a horizon without a forecast adds nothing; the sum never goes down
        cum[:, j] = np.maximum(np.where(np.isfinite(value), value, cum[:, j - 1]), cum[:, j - 1])
    at = np.array([0, *knots], dtype=np.float64)
    s = np.arange(max_h + 1, dtype=np.float64)
    right = np.clip(np.searchsorted(at, s), 1, max(len(at) - 1, 1))
    if len(at) > 1:
        w = np.clip((s - at[right - 1]) / (at[right] - at[right - 1]), 0.0, 1.0)
        cum_s = cum[:, right - 1] + w[None, :] * (cum[:, right] - cum[:, right - 1])
    else:
        cum_s = np.zeros((n, max_h + 1))
    return wide.select("series_id", "origin"), np.diff(cum_s, axis=1)
