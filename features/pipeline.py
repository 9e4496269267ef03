"""The feature pipeline: one definition for training (many origins) and serving (one origin).

``build_features`` turns the canonical tables into one row per ``(series_id, origin, horizon)``
with the task's features and, for training, the target ``y`` at ``ts = origin + horizon``.
Every feature at an origin is computed from values on the grid at or before it (rolling windows
and backward shifts only), from forecasts issued by then, and from events stamped by then, so
rows appended after an origin never change its features (tests/property prove it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from features.calendar import calendar_columns
from features.covariates import covariate_features, covariate_memory
from features.dense import TargetGrid, Window, bin_index, features_at, target_grid
from features.errors import DataError
from features.event_series import event_covariate_as_link
from features.feature_spec import FeatureSpec
from features.grid import floor_to_grid, long_frame, punctual_readings, steps, time_span
from features.known_ahead import forecast_feature
from features.schemas import UTC_TS
from features.signals import rainstorm_level
from features.task_tables import TaskTables
from features.tasks import LinkedCovariate, TaskConfig

KEY_COLUMNS = ("series_id", "origin", "horizon", "ts")


def lookback(task: TaskConfig) -> timedelta:
    """How much history before an origin the features read."""
    r = task.features
    windows: list[timedelta] = [
        *r.target_lags,
        *r.target_maxes,
        *r.target_changes,
        r.fill_limit,
        *(s.window for s in r.target_stats),
    ]
    for cov in linked_covariates(task):
        windows += covariate_memory(cov)
    longest = max(windows, default=timedelta(0))
    if r.season_ref:
        longest = max(longest, r.season_ref * 2)
    return longest + task.step * 2


def linked_covariates(task: TaskConfig) -> list[LinkedCovariate]:
    """Observed covariates, with event counts expressed as covariates on their count series."""
    return [
        *task.features.observed,
        *(LinkedCovariate(**event_covariate_as_link(ev)) for ev in task.features.events),
    ]


def origin_range(start: datetime, end: datetime, stride: timedelta) -> pl.Series:
    """Origins every ``stride`` from ``start`` to ``end`` inclusive."""
    return pl.datetime_range(start, end, stride, time_unit="us", time_zone="UTC", eager=True)


def build_features(
    tables: TaskTables,
    origins: Sequence[datetime] | pl.Series,
    *,
    with_target: bool = True,
    spec: FeatureSpec | None = None,
) -> pl.DataFrame:
    """Feature rows for every target series of the tables' task at each origin and horizon.

    Args:
        tables: the canonical tables as the task reads them (``task_tables``).
        origins: grid-aligned UTC times to forecast from.
        with_target: join ``y`` (the observed target at ``ts``); serving leaves it off.
        spec: a fitted model's feature spec; its series codes are reused so that serving
            encodes series exactly as training did.
    """
    task, targets = tables.task, tables.targets
    step = task.step
    origins = _origin_series(origins)
    if origins.is_empty():
        raise DataError("no origins to build features for")
    misaligned = origins.filter(origins != origins.dt.truncate(task.frequency))
    if misaligned.len() and any(floor_to_grid(t, step) != t for t in misaligned):
        raise DataError(f"origin {misaligned[0]} is not on the task's {task.frequency} grid")

    horizons = list(task.horizons)
    earliest, latest = time_span(origins)
    first = earliest - lookback(task)
    last = latest + (max(horizons) if with_target else timedelta(0))
    origin_bins = bin_index(origins, first, step)
    layout = _Layout(targets.height, len(origin_bins), tuple(horizons), step)
    ids, features, y, seasonal = _grid_features(
        tables, task, targets, origin_bins, layout, first, last, with_target=with_target
    )
    out = _frame(targets, origins, layout, features)
    del features
    if _keeps_series_code(task, spec):
        codes = (
            spec.series_codes
            if spec is not None
            else {sid: i for i, sid in enumerate(sorted(targets["series_id"].to_list()))}
        )
        per_target = pl.Series("series_code", [codes.get(s) for s in ids], dtype=pl.Int32)
        out = out.with_columns(per_target.gather(layout.target_index()))
    if task.features.rainstorm_signal:
        rows = pl.DataFrame(
            {
                "area_id": targets["area_id"].gather(layout.target_index(per_horizon=False)),
                "origin": layout.origins(origins, per_horizon=False),
            }
        )
        out = out.with_columns(layout.repeat(rainstorm_level(rows, tables.events)))
    minutes = np.array([h // timedelta(minutes=1) for h in horizons], dtype=np.int32)
    out = out.with_columns(layout.per_horizon("horizon_min", minutes, pl.Int32))
    if seasonal is not None:
        out = out.with_columns(pl.Series("seasonal_ref", seasonal, nan_to_null=True))
    out = _with_calendar(out, task, layout)
    for fc in task.features.known_ahead:
        keyed = out.select(
            pl.lit(fc.area).alias("area_key") if fc.area else pl.col("area_id").alias("area_key"),
            "origin",
            "ts",
        )
        out = out.with_columns(forecast_feature(keyed, tables.weather_forecasts, fc))
    if y is not None:
        out = out.with_columns(pl.Series("y", y, nan_to_null=True))
    spec = spec or FeatureSpec.from_frame(out, task, targets["series_id"].to_list())
    keep = [*KEY_COLUMNS, "area_id", *spec.columns] + (["y"] if with_target else [])
    # rows were laid out in target, origin, horizon order: already sorted
    return out.select(keep)


def _grid_features(
    tables: TaskTables,
    task: TaskConfig,
    targets: pl.DataFrame,
    origin_bins: np.ndarray,
    layout: _Layout,
    first: datetime,
    last: datetime,
    *,
    with_target: bool,
) -> tuple[tuple[str, ...], dict[str, np.ndarray], np.ndarray | None, np.ndarray | None]:
    """Everything read from grids: the target ids (in row order), each feature as a (target,
    origin) matrix in column order, and ``y`` and ``seasonal_ref`` per row (or None).

    The readings and grids die with this call, before the frame is built (peak memory).
    """
    # only the signals the task reads
    signals = {task.target.signal, *(cov.signal for cov in linked_covariates(task))}
    readings = punctual_readings(
        tables.observations, tables.series.filter(pl.col("signal").is_in(signals))
    )
    grid = target_grid(readings, targets["series_id"].to_list(), task, first, last)
    features = features_at(grid.now, origin_bins, target_windows(task))
    for cov in linked_covariates(task):
        shared = grid if cov.signal == task.target.signal else None
        features |= covariate_features(
            readings, tables.series, targets, cov, task, first, last, origin_bins, shared=shared
        )
    y = None
    if with_target:
        y = grid.raw[:, origin_bins[:, None] + layout.h_steps[None, :]].reshape(-1)
    seasonal = _seasonal_reference(grid, task, origin_bins, layout)
    return grid.ids, features, y, seasonal


def _origin_series(origins: Sequence[datetime] | pl.Series) -> pl.Series:
    """Unique sorted UTC origins (a Series is cast, not iterated through Python objects)."""
    if isinstance(origins, pl.Series):
        series = origins.alias("origin")
        if series.dtype != UTC_TS:
            series = series.cast(UTC_TS)
    else:
        series = pl.Series("origin", list(origins), dtype=UTC_TS)
    return series.unique().sort()


def target_windows(task: TaskConfig) -> list[Window]:
    """The target's own features, in the frame's column order: the filled value at the
    origin, lags, maxima, changes and rolling statistics (rounded as ``window_stat`` does)."""
    step, r = task.step, task.features
    n = lambda w: steps(w, step)  # noqa: E731
    return [
        Window("target_now", "value"),
        *(Window(f"target_lag_{lag}", "lag", n(lag)) for lag in r.target_lags),
        *(Window(f"target_max_{w}", "max", n(w)) for w in r.target_maxes),
        *(Window(f"target_change_{w}", "change", n(w)) for w in r.target_changes),
        *(
            Window(f"target_{st.label}", st.stat, n(st.window), rounded=True, q=st.q)
            for st in r.target_stats
        ),
    ]


def _keeps_series_code(task: TaskConfig, spec: FeatureSpec | None) -> bool:
    """Whether the returned frame has ``series_code`` (the spec's columns, else the task's):
    it is built only then."""
    if spec is not None:
        return "series_code" in spec.columns
    return task.features.series_category


def _spread(values: np.ndarray, outer: int, inner: int) -> np.ndarray:
    """Each value ``inner`` times in a row, the whole ``outer`` times over, as a new contiguous
    array (whichever numpy copy is fast for the shape: ``np.repeat`` is slow for long repeats,
    broadcasting slow for short ones)."""
    if 1 < inner <= 16:
        values, inner = np.repeat(values, inner), 1
    if len(values) * inner <= 16:
        return np.tile(np.repeat(values, inner), outer)
    out = np.empty((outer, len(values), inner), dtype=values.dtype)
    out[...] = values[None, :, None]
    return out.reshape(-1)


@dataclass(frozen=True)
class _Layout:
    """Rows are every target x origin x horizon, horizons innermost, so every column is built
    by position (broadcast copies of numpy arrays), never by a join."""

    n_targets: int
    n_origins: int
    horizons: tuple[timedelta, ...]
    step: timedelta

    @property
    def n_h(self) -> int:
        return len(self.horizons)

    @property
    def h_steps(self) -> np.ndarray:
        return np.array([h // self.step for h in self.horizons], dtype=np.int64)

    def target_index(self, *, per_horizon: bool = True) -> pl.Series:
        """Each row's target (as a Polars index: gathers by a numpy array are much slower)."""
        per = self.n_origins * (self.n_h if per_horizon else 1)
        return pl.Series(_spread(np.arange(self.n_targets, dtype=np.uint32), 1, per))

    def origins(self, origins: pl.Series, *, per_horizon: bool = True) -> pl.Series:
        us = origins.dt.epoch("us").to_numpy()
        inner = self.n_h if per_horizon else 1
        return pl.Series("origin", _spread(us, self.n_targets, inner)).cast(UTC_TS)

    def per_horizon(
        self, name: str, values: np.ndarray, dtype: pl.DataType | type[pl.DataType]
    ) -> pl.Expr:
        """A column of one value per horizon, for every (target, origin). With one horizon it
        is a constant, which Polars keeps as a scalar column instead of a filled array."""
        if len(values) == 1:
            return pl.lit(values[0].item()).cast(dtype).alias(name)
        spread = _spread(values, self.n_targets * self.n_origins, 1)
        return pl.lit(pl.Series(name, spread).cast(dtype))

    def repeat(self, column: pl.Series) -> pl.Series:
        """A (target, origin) column once per horizon."""
        if self.n_h == 1:
            return column
        index = _spread(np.arange(column.len(), dtype=np.uint32), 1, self.n_h)
        return column.gather(pl.Series(index))

    def values(self, name: str, matrix: np.ndarray) -> pl.Series:
        """A (target, origin) feature matrix as a column (NaN is null)."""
        flat = matrix.reshape(-1)
        if self.n_h > 1:
            flat = _spread(flat, 1, self.n_h)
        return pl.Series(name, flat, dtype=pl.Float64, nan_to_null=True)


def _frame(
    targets: pl.DataFrame, origins: pl.Series, layout: _Layout, features: dict[str, np.ndarray]
) -> pl.DataFrame:
    """The key columns, ``area_id`` and the feature matrices as one frame."""
    index = layout.target_index()
    origin = layout.origins(origins)
    h_us = np.array([h // timedelta(microseconds=1) for h in layout.horizons], dtype=np.int64)
    per_row = h_us[0] if layout.n_h == 1 else _spread(h_us, layout.n_targets * layout.n_origins, 1)
    ts_us = origin.to_physical().to_numpy() + per_row
    frame = pl.DataFrame(
        [
            targets["series_id"].gather(index),
            origin,
            pl.Series("ts", ts_us).cast(UTC_TS),
            targets["area_id"].gather(index),
            *(layout.values(name, matrix) for name, matrix in features.items()),
        ]
    )
    return frame.with_columns(layout.per_horizon("horizon", h_us, pl.Duration("us")))


def _with_calendar(out: pl.DataFrame, task: TaskConfig, layout: _Layout) -> pl.DataFrame:
    """Calendar columns, computed once per (origin, horizon) and tiled over the targets: they
    depend on ``ts`` alone."""
    names = task.features.calendar
    if not names:
        return out
    first_target = out.head(layout.n_origins * layout.n_h).select("ts")
    cal = first_target.select(
        calendar_columns(names, tz=task.features.timezone, days=task.features.days)
    )
    index = pl.Series(_spread(np.arange(cal.height, dtype=np.uint32), layout.n_targets, 1))
    return out.with_columns(cal.select(pl.all().gather(index)))


def observed_targets(tables: TaskTables, start: datetime, end: datetime) -> pl.DataFrame:
    """``series_id, ts, value``: the task's targets on its grid, as observed (for evaluation)."""
    task, targets = tables.task, tables.targets
    series = tables.series.filter(pl.col("signal") == task.target.signal)
    readings = punctual_readings(tables.observations, series)
    grid = target_grid(readings, targets["series_id"].to_list(), task, start, end)
    return long_frame(grid.raw, grid.ids, start, task.step, "series_id")


def _seasonal_reference(
    grid: TargetGrid, task: TaskConfig, origin_bins: np.ndarray, layout: _Layout
) -> np.ndarray | None:
    """``seasonal_ref`` per row: the target one season before ``ts``, from data known at the
    origin (k whole seasons back, k the smallest that reaches the origin or earlier)."""
    if not task.features.season_ref:
        return None
    season = task.features.season_ref // task.step
    h_steps = layout.h_steps
    back = h_steps - (h_steps + season - 1) // season * season  # <= 0: at or before the origin
    cols = origin_bins[:, None] + back[None, :]
    ref = grid.now[:, np.maximum(cols, 0)]
    if (cols < 0).any():
        ref[:, cols < 0] = np.nan
    return ref.reshape(-1)


__all__ = [
    "KEY_COLUMNS",
    "build_features",
    "lookback",
    "observed_targets",
    "origin_range",
]
