"""Observed covariates linked to each target: a gauge, the graph neighbours, the area, the city.

Each covariate's source series is put on the task grid once (a ``series x time`` matrix),
combined into one row per source (the gauge itself, the mean over a target's neighbours, over
an area or the city), its window features are computed at the origins from those rows
(sums, maxima, changes, rolling statistics, antecedent precipitation, dry hours), and every
target takes the rows of the source it links to, by position. Models that read a covariate
step by step take those same rows whole (:func:`covariate_steps`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl

from features.dense import TargetGrid, Window, features_at, fill_between_readings, forward_fill
from features.grid import Readings, dense_values, steps
from features.links import attr_values, member_lists, source_keys
from features.tasks import LinkedCovariate, TaskConfig


def covariate_features(
    readings: Readings,
    series: pl.DataFrame,
    targets: pl.DataFrame,
    cov: LinkedCovariate,
    task: TaskConfig,
    first: datetime,
    last: datetime,
    origin_bins: np.ndarray,
    shared: TargetGrid | None = None,
) -> dict[str, np.ndarray]:
    """The covariate's feature columns as ``(target, origin)`` matrices (NaN for null), for
    ``targets`` in their order at ``origin_bins`` of the grid starting at ``first``.

    ``shared``: the target grid, reused when it holds exactly the covariate's series.
    """
    if cov.each:
        return _member_features(readings, series, targets, cov, task, first, last, origin_bins)
    sources, source_values = _source_rows(readings, series, targets, cov, task, first, last, shared)
    windows = covariate_windows(cov, task)
    feats = features_at(source_values, origin_bins, windows)
    if cov.relative_to_attr and cov.level:
        attrs = attr_values(series, cov.relative_to_attr)
        attr_of = dict(
            zip(attrs["source"].to_list(), attrs[cov.relative_to_attr].to_list(), strict=True)
        )
        offset = np.array([attr_of.get(s) for s in sources], dtype=float)
        feats[f"{cov.name}_above_attr"] = feats[f"{cov.name}_level"] - offset[:, None]
    rows = _target_rows(targets, cov, sources)
    return {name: _take_rows(m, rows) for name, m in feats.items()}


def covariate_steps(
    readings: Readings,
    series: pl.DataFrame,
    targets: pl.DataFrame,
    cov: LinkedCovariate,
    task: TaskConfig,
    first: datetime,
    last: datetime,
) -> np.ndarray:
    """The covariate's value at every grid step as a ``(target, bin)`` matrix (NaN where
    unknown): each target's source row, before any window is taken, for models that read the
    covariate step by step (SARIMAX's rain regressor). Same binning, filling and linking as
    :func:`covariate_features`, so the two agree on what was known when."""
    sources, source_values = _source_rows(readings, series, targets, cov, task, first, last, None)
    return _take_rows(source_values, _target_rows(targets, cov, sources))


def _member_features(
    readings: Readings,
    series: pl.DataFrame,
    targets: pl.DataFrame,
    cov: LinkedCovariate,
    task: TaskConfig,
    first: datetime,
    last: datetime,
    origin_bins: np.ndarray,
) -> dict[str, np.ndarray]:
    """``each`` members one by one: the k-th listed member of every target, its window
    features under ``<name><k>_``, its level above its own attr, and its reading one travel
    time before the origin (NaN where a target has no k-th member or no travel time)."""
    ids, values = covariate_grid(readings, series, cov, task, first, last, None)
    row_of = {sid: i for i, sid in enumerate(ids)}
    listed: dict[str, list[str]] = {}
    for source, member in member_lists(targets, cov.link.removeprefix("members:")).iter_rows():
        listed.setdefault(source, []).append(member)
    attr_of: dict[str, float | None] = {}
    if cov.relative_to_attr and cov.level:
        attrs = attr_values(series, cov.relative_to_attr)
        attr_of = dict(
            zip(attrs["source"].to_list(), attrs[cov.relative_to_attr].to_list(), strict=True)
        )
    travel = cov.travel if isinstance(cov.travel, dict) else {}
    target_ids = targets["series_id"].to_list()
    out: dict[str, np.ndarray] = {}
    assert cov.each is not None
    for k in range(1, cov.each + 1):
        member = [(listed.get(t) or [])[k - 1 : k] for t in target_ids]
        names = [m[0] if m else None for m in member]
        rows = [row_of.get(m, -1) if m is not None else -1 for m in names]
        matrix = _take_rows(values, rows)
        one = cov.model_copy(update={"name": f"{cov.name}{k}", "each": None, "travel": None})
        feats = features_at(matrix, origin_bins, covariate_windows(one, task))
        if cov.relative_to_attr and cov.level:
            offset = np.array(
                [attr_of.get(m) if m is not None else None for m in names], dtype=float
            )
            feats[f"{one.name}_above_attr"] = feats[f"{one.name}_level"] - offset[:, None]
        if cov.travel is not None:
            pairs = zip(target_ids, names, strict=True)
            known = [travel.get(t, {}).get(m) if m else None for t, m in pairs]
            lag = np.array([-1 if d is None else d // task.step for d in known], dtype=np.int64)
            cols = origin_bins[None, :] - lag[:, None]
            inside = (lag[:, None] >= 0) & (cols >= 0)
            taken = matrix[np.arange(len(rows))[:, None], np.clip(cols, 0, None)]
            feats[f"{one.name}_at_travel"] = np.where(inside, taken, np.nan)
        out |= feats
    return out


def covariate_grid(
    readings: Readings,
    series: pl.DataFrame,
    cov: LinkedCovariate,
    task: TaskConfig,
    first: datetime,
    last: datetime,
    shared: TargetGrid | None,
) -> tuple[list[str], np.ndarray]:
    """Every series of the covariate's signal on the grid, filled as its signal allows."""
    step = task.step
    ids = sorted(set(series.filter(pl.col("signal") == cov.signal)["series_id"].to_list()))
    aggregation = task.features.aggregation_of(cov.signal)
    if shared is not None and list(shared.ids) == ids:
        values = shared.raw  # the target grid of the same signal: no need to bin it twice
    else:
        values = dense_values(
            readings,
            ids,
            aggregation=aggregation,
            step=step,
            start=first,
            end=last,
            signal=cov.signal,
        )
    if aggregation != "sum":
        values = forward_fill(values, steps(task.features.fill_limit, step))
    else:  # an accumulation read less often than the grid covers the bins between readings
        values = fill_between_readings(values)
    return ids, values


def _source_rows(
    readings: Readings,
    series: pl.DataFrame,
    targets: pl.DataFrame,
    cov: LinkedCovariate,
    task: TaskConfig,
    first: datetime,
    last: datetime,
    shared: TargetGrid | None,
) -> tuple[list[str], np.ndarray]:
    """The covariate's series on the grid, filled as its signal allows, one row per source."""
    members = series.filter(pl.col("signal") == cov.signal).select("series_id", "area_id")
    ids, values = covariate_grid(readings, series, cov, task, first, last, shared)
    return _sources(values, ids, members, targets, cov)


def _sources(
    values: np.ndarray,
    ids: list[str],
    members: pl.DataFrame,
    targets: pl.DataFrame,
    cov: LinkedCovariate,
) -> tuple[list[str], np.ndarray]:
    """The covariate's source keys and one row of values each: the series themselves for a
    linked gauge, else the mean over each area, the city or each target's member list."""
    row_of = {sid: i for i, sid in enumerate(ids)}
    if cov.link in ("area", "city"):
        groups: dict[str, list[int]] = {}
        for sid, area in members.iter_rows():
            key = area if cov.link == "area" else "city"
            if key is not None and sid in row_of:
                groups.setdefault(key, []).append(row_of[sid])
        return _group_means(values, {k: sorted(set(v)) for k, v in groups.items()})
    if cov.link.startswith("members:"):
        # each target's own list of members (its graph neighbours, its upstream gauges)
        lists = member_lists(targets, cov.link.removeprefix("members:"))
        groups = {}
        for source, member in lists.iter_rows():
            groups.setdefault(source, [])
            if member in row_of:
                groups[source].append(row_of[member])
        return _group_means(values, {k: v for k, v in groups.items() if v})
    return ids, values


def _group_means(values: np.ndarray, groups: dict[str, list[int]]) -> tuple[list[str], np.ndarray]:
    """Per group, the mean of its rows at each bin: nulls skipped, null where all are."""
    out = np.empty((len(groups), values.shape[1]))
    for i, rows in enumerate(groups.values()):
        block = values[rows]
        present = ~np.isnan(block)
        count = present.sum(axis=0)
        total = np.where(present, block, 0.0).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[i] = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return list(groups), out


def _target_rows(targets: pl.DataFrame, cov: LinkedCovariate, sources: list[str]) -> list[int]:
    """For each target in order, the row of the source it links to (-1: none)."""
    row_of = {s: i for i, s in enumerate(sources)}
    return [row_of.get(k, -1) for k in source_keys(targets, cov)["source"].to_list()]


def _take_rows(matrix: np.ndarray, rows: list[int]) -> np.ndarray:
    """``matrix`` rows by index, NaN rows for -1 (a target whose source is unknown)."""
    index = np.asarray(rows, dtype=np.int64)
    if len(index) == matrix.shape[0] and (index == np.arange(len(index))).all():
        return matrix
    out = np.full((len(index), matrix.shape[1]), np.nan)
    found = index >= 0
    out[found] = matrix[index[found]]
    return out


def covariate_windows(cov: LinkedCovariate, task: TaskConfig) -> list[Window]:
    """The covariate's features in column order (sums and statistics rounded, as
    ``features.grid.window_sum`` and ``window_stat`` are; maxima not, as ``window_max``)."""
    step, p = task.step, cov.name
    n = lambda w: steps(w, step)  # noqa: E731
    out = [Window(f"{p}_sum_{w}", "sum", n(w), rounded=True) for w in cov.sums]
    out += [Window(f"{p}_max_{w}", "max", n(w)) for w in cov.maxes]
    out += [Window(f"{p}_change_{w}", "change", n(w)) for w in cov.changes]
    out += [Window(f"{p}_{s.label}", s.stat, n(s.window), rounded=True, q=s.q) for s in cov.stats]
    if cov.level:
        out.append(Window(f"{p}_level", "value"))
    if cov.api_days:
        per_day = steps(timedelta(days=1), step)
        out.append(
            Window(f"{p}_api_{cov.api_days}d", "api", cov.api_days, per_day=per_day, k=cov.api_k)
        )
    if cov.dry_hours:
        cap = cov.dry_hours
        out.append(
            Window(
                f"{p}_dry_hours",
                "dry",
                steps(cap, step),
                hours=step / timedelta(hours=1),
                cap_hours=cap / timedelta(hours=1),
            )
        )
    return out


def covariate_memory(cov: LinkedCovariate) -> list[timedelta]:
    """The windows a covariate reads back, for the pipeline's lookback."""
    out: list[timedelta] = [*cov.sums, *cov.maxes, *cov.changes, *(s.window for s in cov.stats)]
    if cov.api_days:
        out.append(timedelta(days=cov.api_days))
    if cov.dry_hours:
        out.append(cov.dry_hours)
    if cov.travel is not None:
        configured = cov.travel.values() if isinstance(cov.travel, dict) else []
        out += [cov.max_travel, *(d for links in configured for d in links.values())]
    return out
