"""The feature pipeline: one definition for training (many origins) and serving (one origin).

``build_features`` turns the canonical tables into one row per ``(series_id, origin, horizon)``
with the task's features and, for training, the target ``y`` at ``ts = origin + horizon``.
Every feature at an origin is computed from values on the grid at or before it (rolling windows
and backward shifts only), from forecasts issued by then, and from events stamped by then, so
rows appended after an origin never change its features (tests/property prove it).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from features.calendar import calendar_columns
from features.covariates import covariate_memory, join_covariate
from features.dense import bin_index
from features.durations import format_duration, parse_duration
from features.errors import DataError
from features.event_series import event_covariate_as_link, with_event_series
from features.feature_spec import FeatureSpec
from features.grid import (
    floor_to_grid,
    punctual,
    regular_grid,
    steps,
    window_max,
    window_stat,
    with_blocks,
)
from features.known_ahead import forecast_feature
from features.links import select_targets
from features.schemas import SIGNALS, UTC_TS
from features.signals import rainstorm_level
from features.tables import CityTables
from features.tasks import LinkedCovariate, TaskConfig

KEY_COLUMNS = ("series_id", "origin", "horizon", "ts")


def lookback(task: TaskConfig) -> timedelta:
    """How much history before an origin the features read."""
    r = task.features
    windows = [
        *r.target_lags,
        *r.target_maxes,
        *r.target_changes,
        r.fill_limit,
        *(s.window for s in r.target_stats),
    ]
    for cov in linked_covariates(task):
        windows += covariate_memory(cov)
    longest = max((parse_duration(w) for w in windows), default=timedelta(0))
    if r.season_ref:
        longest = max(longest, parse_duration(r.season_ref) * 2)
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
    tables: CityTables,
    task: TaskConfig,
    origins: Sequence[datetime] | pl.Series,
    *,
    with_target: bool = True,
    spec: FeatureSpec | None = None,
) -> pl.DataFrame:
    """Feature rows for every target series at each origin and horizon.

    Args:
        origins: grid-aligned UTC times to forecast from.
        with_target: join ``y`` (the observed target at ``ts``); serving leaves it off.
        spec: a fitted model's feature spec; its series codes are reused so that serving
            encodes series exactly as training did.
    """
    step = task.step
    origins = pl.Series("origin", list(origins), dtype=UTC_TS).unique().sort()
    if origins.is_empty():
        raise DataError("no origins to build features for")
    misaligned = origins.filter(origins != origins.dt.truncate(task.frequency))
    if misaligned.len() and any(floor_to_grid(t, step) != t for t in misaligned):
        raise DataError(f"origin {misaligned[0]} is not on the task's {task.frequency} grid")

    horizons = [parse_duration(h) for h in task.horizons]
    first = origins.min() - lookback(task)
    last = origins.max() + (max(horizons) if with_target else timedelta(0))
    tables = with_event_series(tables, task, live_until=origins.max())
    targets = select_targets(tables.series, task)
    # only the signals the task reads (punctual's inner join drops the rest in one pass)
    signals = {task.target.signal, *(cov.signal for cov in linked_covariates(task))}
    obs = punctual(tables.observations, tables.series.filter(pl.col("signal").is_in(signals)))

    target_grid = _target_grid(obs, targets, task, first, last)
    n_bins = target_grid.height // max(targets.height, 1)
    origin_bins = bin_index(origins, first, step)
    # rows by position in the dense target grid: every target at every origin, sorted
    positions = np.add.outer(np.arange(targets.height) * n_bins, origin_bins).ravel()
    rows = target_grid.drop("raw", "_block")[positions].rename({"ts": "origin"})
    row_bins = np.tile(origin_bins, targets.height)
    raw_grid = target_grid.select("series_id", "ts", pl.col("raw").alias("value"))
    for cov in linked_covariates(task):
        shared = raw_grid if cov.signal == task.target.signal else None
        rows = join_covariate(
            rows, row_bins, obs, tables.series, targets, cov, task, first, last, shared=shared
        )
    codes = (
        spec.series_codes
        if spec is not None
        else {sid: i for i, sid in enumerate(sorted(targets["series_id"].to_list()))}
    )
    # rows are in target order, so per-target values repeat in blocks: no join needed
    per_origin = len(origin_bins)
    target_idx = np.repeat(np.arange(targets.height), per_origin)
    rows = rows.with_columns(
        targets["area_id"].gather(target_idx).alias("area_id"),
        pl.Series([codes.get(sid) for sid in targets["series_id"].to_list()], dtype=pl.Int32)
        .gather(target_idx)
        .alias("series_code"),
    )
    if task.features.rainstorm_signal:
        rows = rows.with_columns(rainstorm_level(rows, tables.events))

    horizon_frame = pl.DataFrame(
        {"horizon": horizons, "horizon_min": [int(h.total_seconds() // 60) for h in horizons]},
        schema={"horizon": pl.Duration("us"), "horizon_min": pl.Int32},
    )
    # every row once per horizon, horizons innermost (a positional cross product)
    n_h = horizon_frame.height
    out = rows[np.repeat(np.arange(rows.height), n_h)] if n_h > 1 else rows
    out = out.with_columns(
        horizon_frame["horizon"].gather(np.tile(np.arange(n_h), rows.height)),
        horizon_frame["horizon_min"].gather(np.tile(np.arange(n_h), rows.height)),
    ).with_columns((pl.col("origin") + pl.col("horizon")).alias("ts"))
    # the target grid position of each output row's ts (rows x horizons, in that order)
    h_steps = np.array([h // step for h in horizons], dtype=np.int64)
    ts_positions = np.repeat(positions, len(horizons)) + np.tile(h_steps, len(positions))
    out = _seasonal_reference(out, target_grid, task, ts_positions)
    out = out.with_columns(calendar_columns(task.features.calendar))
    for fc in task.features.known_ahead:
        keyed = out.select(
            pl.lit(fc.area).alias("area_key") if fc.area else pl.col("area_id").alias("area_key"),
            "origin",
            "ts",
        )
        out = out.with_columns(forecast_feature(keyed, tables.weather_forecasts, fc))
    if with_target:
        out = out.with_columns(target_grid["raw"].gather(ts_positions).alias("y"))
    spec = spec or FeatureSpec.from_frame(out, task, targets["series_id"].to_list())
    keep = [*KEY_COLUMNS, "area_id", *spec.columns] + (["y"] if with_target else [])
    # rows were taken by position in target, origin, horizon order: already sorted
    return out.select(keep)


def observed_targets(
    tables: CityTables, task: TaskConfig, start: datetime, end: datetime
) -> pl.DataFrame:
    """``series_id, ts, value``: the task's targets on its grid, as observed (for evaluation)."""
    tables = with_event_series(tables, task)
    targets = select_targets(tables.series, task)
    obs = punctual(tables.observations, tables.series)
    grid = _target_grid(obs, targets, task, start, end)
    return grid.select("series_id", "ts", pl.col("raw").alias("value"))


def data_span(tables: CityTables, task: TaskConfig) -> tuple[datetime, datetime]:
    """First and last grid times holding a target observation."""
    tables = with_event_series(tables, task)
    targets = select_targets(tables.series, task)
    ts = tables.observations.join(targets, on="series_id", how="semi")["ts"]
    if ts.is_empty():
        raise DataError(f"no observations of the task's target signal {task.target.signal!r}")
    step = task.step
    return floor_to_grid(ts.min(), step) + step, floor_to_grid(ts.max(), step)


def _target_grid(
    obs: pl.DataFrame, targets: pl.DataFrame, task: TaskConfig, first: datetime, last: datetime
) -> pl.DataFrame:
    step, r = task.step, task.features
    signal = task.target.signal
    spec = SIGNALS.get(signal)
    # every target gets a grid, even one with no observations yet
    grid = regular_grid(
        obs,
        aggregation=spec.aggregation if spec else "last",
        step=step,
        start=first,
        end=last,
        keys=targets["series_id"].to_list(),
    )
    fill = steps(parse_duration(r.fill_limit), step)
    grid = (
        with_blocks(grid, "series_id")
        .rename({"value": "raw"})
        .with_columns(pl.col("raw").forward_fill(limit=fill).over("_block").alias("target_now"))
    )
    cols = []
    for lag in r.target_lags:
        n = steps(parse_duration(lag), step)
        cols.append(pl.col("target_now").shift(n).over("_block").alias(f"target_lag_{lag}"))
    for w in r.target_maxes:
        cols.append(
            window_max("target_now", steps(parse_duration(w), step), key="_block").alias(
                f"target_max_{w}"
            )
        )
    for w in r.target_changes:
        n = steps(parse_duration(w), step)
        cols.append(
            (pl.col("target_now") - pl.col("target_now").shift(n).over("_block")).alias(
                f"target_change_{w}"
            )
        )
    for st in r.target_stats:
        n = steps(parse_duration(st.window), step)
        cols.append(
            window_stat("target_now", st.stat, n, key="_block", q=st.q).alias(f"target_{st.label}")
        )
    return grid.with_columns(cols)


def _seasonal_reference(
    out: pl.DataFrame, target_grid: pl.DataFrame, task: TaskConfig, ts_positions: np.ndarray
) -> pl.DataFrame:
    """``seasonal_ref``: the target one season before ``ts``, from data known at the origin
    (k whole seasons back, k the smallest that reaches the origin or earlier)."""
    if not task.features.season_ref:
        return out
    season = parse_duration(task.features.season_ref) // task.step
    h_steps = out["horizon"].dt.total_microseconds().to_numpy() // int(
        task.step / timedelta(microseconds=1)
    )
    k = (h_steps + season - 1) // season
    return out.with_columns(
        target_grid["target_now"].gather(ts_positions - k * season).alias("seasonal_ref")
    )


__all__ = [
    "KEY_COLUMNS",
    "build_features",
    "data_span",
    "format_duration",
    "lookback",
    "observed_targets",
    "origin_range",
]
