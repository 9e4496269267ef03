"""Which series feed each target: targets selected by the task, and linked covariate sources.

A covariate is linked through the target's ``attrs`` (``rain_gauge``: the nearest rain gauge),
through its area (the mean over the area's series of that signal), or city-wide.
"""

from __future__ import annotations

import polars as pl

from features.errors import ConfigError
from features.tasks import LinkedCovariate, TaskConfig


def select_targets(series: pl.DataFrame, task: TaskConfig) -> pl.DataFrame:
    """The task's target series: ``series_id, area_id, attrs``, sorted by id."""
    sel = series.filter(pl.col("signal") == task.target.signal)
    if task.target.series_ids is not None:
        sel = sel.filter(pl.col("series_id").is_in(list(task.target.series_ids)))
    if task.target.area_ids is not None:
        sel = sel.filter(pl.col("area_id").is_in(list(task.target.area_ids)))
    if sel.is_empty():
        raise ConfigError(
            f"no series of signal {task.target.signal!r} match the task's selection",
            key="target",
        )
    return sel.select("series_id", "area_id", "attrs").sort("series_id")


def source_keys(targets: pl.DataFrame, cov: LinkedCovariate) -> pl.DataFrame:
    """``series_id, source``: the key of the covariate's source for each target."""
    if cov.link == "area":
        src = pl.col("area_id")
    elif cov.link == "city":
        src = pl.lit("city")
    elif cov.link.startswith("members:"):
        src = pl.col("series_id")
    else:
        src = pl.col("attrs").str.json_path_match(f"$.{cov.link}")
    return targets.select("series_id", src.alias("source"))


def attr_values(series: pl.DataFrame, attr: str) -> pl.DataFrame:
    """``source, attr``: a numeric attribute of each series (e.g. its warning level)."""
    return series.select(
        pl.col("series_id").alias("source"),
        pl.col("attrs").str.json_path_match(f"$.{attr}").cast(pl.Float64, strict=False).alias(attr),
    )


def member_lists(targets: pl.DataFrame, attr: str) -> pl.DataFrame:
    """``source, member``: for each target (its own id as the source key), the series ids listed
    under ``attr`` in its attrs (graph neighbours, upstream gauges)."""
    return (
        targets.select(
            pl.col("series_id").alias("source"),
            pl.col("attrs").str.json_path_match(f"$.{attr}").alias("_list"),
        )
        .with_columns(pl.col("_list").str.json_decode(pl.List(pl.String)).alias("member"))
        .explode("member")
        .drop_nulls("member")
        .select("source", "member")
    )
