"""Each target's warning thresholds at each forecast time, by its task's rule.

One function for the backtest and for serving, so a warning in the command hall is raised by
exactly the thresholds whose skill the backtest reported. A threshold is known at the origin:
a catalog value, a seasonal norm of counts before the origin, or a free-flow speed learnt from
speeds before it. ``t_<level>`` is null where a level does not apply to a target (a gauge
without that attr, a sensor off the monitored corridors, a count with no norm yet); such a
target is simply not graded at that level.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from features.errors import DataError
from features.grid import time_span
from features.history import TargetHistory
from features.tasks import TaskConfig
from features.warning_config import WarningSpec

WEEK = timedelta(days=7)


def threshold_column(level: str) -> str:
    """``"yellow" -> "t_yellow"``: the column of a level's threshold."""
    return f"t_{level}"


def warning_memory(task: TaskConfig) -> timedelta:
    """How much target history before an origin the task's rule reads (zero for fixed and
    catalog thresholds)."""
    rule = task.warning
    if rule is None or rule.kind == "threshold":
        return timedelta(0)
    if rule.kind == "surge":
        return rule.surge_norm.weeks * WEEK + task.step
    return rule.free_flow.learn_window + task.step


def warning_thresholds(
    keys: pl.DataFrame,
    task: TaskConfig,
    targets: pl.DataFrame,
    history: TargetHistory | None = None,
) -> pl.DataFrame:
    """``keys`` (``series_id, origin, ts``) with ``t_<level>`` for each of the rule's levels.

    Args:
        targets: ``series_id, attrs`` of the task's targets (catalog values and corridors).
        history: the target's history up to the origins; surge and learnt free-flow rules
            read it (at least :func:`warning_memory` before the earliest origin).
    """
    rule = task.warning
    if rule is None:
        raise DataError(f"task {task.name!r} has no warning section", column="warning")
    out = keys.select("series_id", "origin", "ts")
    if rule.kind == "threshold":
        return out.join(_catalog_levels(rule, targets), on="series_id", how="left")
    if history is None:
        raise DataError(f"a {rule.kind} rule reads the target's history; none was given")
    if rule.kind == "surge":
        norm = np.maximum(_seasonal_norm(out, history, rule, task), rule.surge_norm.min_norm)
        return out.with_columns(
            pl.Series(threshold_column(lv.level), norm * (lv.factor or 0.0)).fill_nan(None)
            for lv in rule.levels
        )
    free = _free_flow(out, targets, history, rule, task)
    return (
        out.join(free, on="series_id", how="left")
        .with_columns(
            (pl.col("_free_flow") * (lv.share or 0.0)).alias(threshold_column(lv.level))
            for lv in rule.levels
        )
        .drop("_free_flow")
    )


def _attr(name: str) -> pl.Expr:
    return pl.col("attrs").str.json_path_match(f"$.{name}").cast(pl.Float64, strict=False)


def _catalog_levels(rule: WarningSpec, targets: pl.DataFrame) -> pl.DataFrame:
    """``series_id, t_<level>``: the target's own value where the level names an attr and the
    target has it, else the level's threshold for every target (null where neither)."""
    columns = []
    for lv in rule.levels:
        fixed = pl.lit(lv.threshold, dtype=pl.Float64)
        own = _attr(lv.attr) + (lv.offset or 0.0) if lv.attr else None
        value = pl.coalesce(own, fixed) if own is not None else fixed
        columns.append(value.alias(threshold_column(lv.level)))
    return targets.select("series_id", *columns)


def _seasonal_norm(
    keys: pl.DataFrame, history: TargetHistory, rule: WarningSpec, task: TaskConfig
) -> np.ndarray:
    """The mean of the target at ``ts - k weeks`` (k = 1..weeks) over the weeks known at the
    origin; NaN where none is."""
    week = WEEK // task.step
    rows = history.rows(keys["series_id"])
    at = history.bins(keys["ts"])
    origin = history.bins(keys["origin"])
    total = np.zeros(keys.height)
    count = np.zeros(keys.height)
    n_bins = history.values.shape[1]
    for k in range(1, rule.surge_norm.weeks + 1):
        col = at - k * week
        ok = (col >= 0) & (col < n_bins) & (col <= origin)
        value = np.full(keys.height, np.nan)
        value[ok] = history.values[rows[ok], col[ok]]
        seen = np.isfinite(value)
        total[seen] += value[seen]
        count[seen] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _free_flow(
    keys: pl.DataFrame,
    targets: pl.DataFrame,
    history: TargetHistory,
    rule: WarningSpec,
    task: TaskConfig,
) -> pl.DataFrame:
    """``series_id, _free_flow``: the catalog's free-flow speed, else the night-time quantile
    of the speeds over the learning window before the earliest origin; null off the
    monitored corridors."""
    spec = rule.free_flow
    first_origin = time_span(keys["origin"])[0]
    learnt = _night_quantile(
        history, spec.quantile, spec.night_hours, spec.learn_window, task, first_origin
    )
    base = targets.select(
        "series_id",
        (_attr(spec.free_flow_attr) if spec.free_flow_attr else pl.lit(None, pl.Float64)).alias(
            "_catalog"
        ),
        pl.col("attrs").str.json_path_match(f"$.{spec.corridor_attr}").alias("_corridor"),
    ).join(learnt, on="series_id", how="left")
    on_corridor = (
        pl.col("_corridor").is_in(list(spec.corridors)) if spec.corridors is not None else True
    )
    return base.select(
        "series_id",
        pl.when(on_corridor)
        .then(pl.coalesce("_catalog", "_learnt"))
        .otherwise(None)
        .alias("_free_flow"),
    )


def _night_quantile(
    history: TargetHistory,
    q: float,
    hours: tuple[int, int],
    window: timedelta,
    task: TaskConfig,
    before: datetime,
) -> pl.DataFrame:
    """``series_id, _learnt``: each series' ``q`` quantile over the grid times in the local
    night ``[hours)`` within ``window`` up to ``before`` (null without such a value)."""
    n_bins = history.values.shape[1]
    end = min(int(history.bins(pl.Series([before]))[0]) + 1, n_bins)
    start = max(end - window // task.step, 0)
    learnt = np.full(len(history.series_ids), np.nan)
    if end > start:
        times = pl.datetime_range(
            history.start + start * history.step,
            history.start + (end - 1) * history.step,
            history.step,
            time_unit="us",
            time_zone="UTC",
            eager=True,
        )
        local = times.dt.convert_time_zone(str(ZoneInfo(task.features.timezone))).dt.hour()
        night = ((local >= hours[0]) & (local < hours[1])).to_numpy()
        values = history.values[:, start:end][:, night]
        known = np.isfinite(values).any(axis=1)
        if known.any():
            learnt[known] = np.nanquantile(values[known], q, axis=1)
    return pl.DataFrame(
        {"series_id": list(history.series_ids), "_learnt": learnt},
        schema_overrides={"_learnt": pl.Float64},
    ).with_columns(pl.col("_learnt").fill_nan(None))
