"""The absolute step grid and the known-ahead regressors of the ``sarimax`` family.

SARIMAX takes exogenous regressors that are known ahead: a constant (used without
differencing), ``fourier`` daily harmonics (sin and cos of the local time of day, which stand
in for the daily cycle with 2K coefficients instead of a seasonal state per step) and the
``calendar`` flags of :mod:`features.holidays` (``holiday``, ``workday``, ``school_term``),
all in the task's time zone. They are computed once per fit or predict over the span of
history it covers and handed to the workers as one matrix.

Rain is not a regressor. For a level such as ponding depth it would have to enter per step,
both over the history being filtered (observed rain, which ``TargetHistory`` does not carry)
and over the forecast path (per-step forecast rain, whereas the frame's ``fcst_rain`` is one
cumulative sum from the origin to each horizon). The tabular families use rain; these do not.

The absolute bin (the step index counted from the Unix epoch) is here too: it aligns ETS's
season by phase and the regressor rows with each window, whatever history was handed over.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl

from features.calendar import calendar_columns
from features.history import TargetHistory
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
        flags = ts.to_frame().select(calendar_columns(cfg.calendar, tz=cfg.timezone)).to_numpy()
        cols += list(flags.astype(np.float64).T)
    return np.column_stack(cols)
