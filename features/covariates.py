"""Observed covariates linked to each target: a gauge, the graph neighbours, the area, the city.

Each covariate's source series is put on the task grid once, its window features are computed
there (sums, maxima, changes, rolling statistics, antecedent precipitation, dry hours), and the
rows are joined to every target that links to that source.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import polars as pl

from features.dense import gather
from features.durations import parse_duration
from features.grid import (
    antecedent_index,
    hours_since,
    regular_grid,
    steps,
    window_max,
    window_stat,
    window_sum,
    with_blocks,
)
from features.links import attr_values, member_lists, source_keys
from features.schemas import SIGNALS
from features.tasks import LinkedCovariate, TaskConfig


def join_covariate(
    rows: pl.DataFrame,
    row_bins: np.ndarray,
    obs: pl.DataFrame,
    series: pl.DataFrame,
    targets: pl.DataFrame,
    cov: LinkedCovariate,
    task: TaskConfig,
    first: datetime,
    last: datetime,
    shared: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """``rows`` (``series_id, origin``...) with the covariate's feature columns added.

    ``shared``: an already binned ``series_id, ts, value`` grid of the same span, reused when it
    holds exactly the covariate's series.

    ``row_bins`` is each row's origin as a bin of the grids, which all start at ``first``.
    """
    step = task.step
    members = series.filter(pl.col("signal") == cov.signal).select("series_id", "area_id")
    sig = SIGNALS.get(cov.signal)
    if shared is None or set(shared["series_id"].unique()) != set(members["series_id"]):
        grid = regular_grid(
            obs.join(members, on="series_id", how="semi"),
            aggregation=sig.aggregation if sig else "last",
            step=step,
            start=first,
            end=last,
            keys=members["series_id"].to_list(),
        )
    else:
        grid = shared  # the target grid of the same signal: no need to bin it twice
    if sig is None or sig.aggregation != "sum":
        fill = steps(parse_duration(task.features.fill_limit), step)
        grid = (
            with_blocks(grid, "series_id")
            .with_columns(pl.col("value").forward_fill(limit=fill).over("_block"))
            .drop("_block")
        )
    keys = source_keys(targets, cov)
    if cov.link in ("area", "city"):
        key = pl.col("area_id") if cov.link == "area" else pl.lit("city")
        grid = (
            grid.join(members, on="series_id")
            .group_by(key.alias("source"), "ts")
            .agg(pl.col("value").mean())
        )
    elif cov.link.startswith("members:"):
        # each target's own list of members (its graph neighbours, its upstream gauges)
        grid = _member_means(grid, member_lists(targets, cov.link.removeprefix("members:")))
    else:
        grid = grid.rename({"series_id": "source"})  # dense and sorted already
    if cov.link in ("area", "city") or cov.link.startswith("members:"):
        grid = grid.sort("source", "ts")
    grid = with_blocks(grid, "source")
    feats = grid.with_columns(_window_features(cov, task)).drop("value", "_block")
    if cov.relative_to_attr and cov.level:
        feats = feats.join(
            attr_values(series, cov.relative_to_attr),
            on="source",
            how="left",
            maintain_order="left",
        )
        feats = feats.with_columns(
            (pl.col(f"{cov.name}_level") - pl.col(cov.relative_to_attr)).alias(
                f"{cov.name}_above_attr"
            )
        ).drop(cov.relative_to_attr)
    mapping = dict(zip(keys["series_id"].to_list(), keys["source"].to_list(), strict=True))
    row_sources = rows["series_id"].replace_strict(mapping, default=None, return_dtype=pl.String)
    columns = [c for c in feats.columns if c not in ("source", "ts")]
    return rows.hstack(
        gather(feats, key="source", row_keys=row_sources, row_bins=row_bins, columns=columns)
    )


def _member_means(grid: pl.DataFrame, lists: pl.DataFrame) -> pl.DataFrame:
    """``source, ts, value``: per source, the mean of its members' values at each time (nulls
    skipped; null where no member has a value).

    The grid is dense and sorted (every key has the same time axis), so each member's values
    are one row of a matrix and the mean is a numpy reduction by position, not a join.
    """
    keys = grid["series_id"].unique(maintain_order=True).to_list()
    if not keys:
        return grid.rename({"series_id": "source"})
    n_bins = grid.height // len(keys)
    matrix = grid["value"].to_numpy().reshape(len(keys), n_bins)
    row_of = {k: i for i, k in enumerate(keys)}
    axis = grid["ts"].head(n_bins)
    sources, columns = [], []
    for source, members in lists.group_by("source", maintain_order=True).agg("member").iter_rows():
        idx = [row_of[m] for m in members if m in row_of]
        if not idx:
            continue
        block = matrix[idx]
        present = ~np.isnan(block)
        count = present.sum(axis=0)
        total = np.where(present, block, 0.0).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            columns.append(np.where(count > 0, total / np.maximum(count, 1), np.nan))
        sources.append(source)
    if not sources:
        return pl.DataFrame(
            schema={"source": pl.String, "ts": grid.schema["ts"], "value": pl.Float64}
        )
    values = pl.Series("value", np.concatenate(columns)).fill_nan(None)
    return pl.DataFrame(
        {
            "source": pl.Series(sources).gather(np.repeat(np.arange(len(sources)), n_bins)),
            "ts": axis.gather(np.tile(np.arange(n_bins), len(sources))),
            "value": values,
        }
    )


def _window_features(cov: LinkedCovariate, task: TaskConfig) -> list[pl.Expr]:
    step, p = task.step, cov.name
    n = lambda w: steps(parse_duration(w), step)  # noqa: E731
    cols = [window_sum("value", n(w), key="_block").alias(f"{p}_sum_{w}") for w in cov.sums]
    cols += [window_max("value", n(w), key="_block").alias(f"{p}_max_{w}") for w in cov.maxes]
    cols += [
        (pl.col("value") - pl.col("value").shift(n(w)).over("_block")).alias(f"{p}_change_{w}")
        for w in cov.changes
    ]
    cols += [
        window_stat("value", s.stat, n(s.window), key="_block", q=s.q).alias(f"{p}_{s.label}")
        for s in cov.stats
    ]
    if cov.level:
        cols.append(pl.col("value").alias(f"{p}_level"))
    if cov.api_days:
        cols.append(
            antecedent_index("value", step, days=cov.api_days, k=cov.api_k, key="_block").alias(
                f"{p}_api_{cov.api_days}d"
            )
        )
    if cov.dry_hours:
        cols.append(
            hours_since("value", step, cap=parse_duration(cov.dry_hours), key="_block").alias(
                f"{p}_dry_hours"
            )
        )
    return cols


def covariate_memory(cov: LinkedCovariate) -> list[str]:
    """The windows a covariate reads back, for the pipeline's lookback."""
    out = [*cov.sums, *cov.maxes, *cov.changes, *(s.window for s in cov.stats)]
    if cov.api_days:
        out.append(f"{cov.api_days}d")
    if cov.dry_hours:
        out.append(cov.dry_hours)
    return out
