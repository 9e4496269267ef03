"""The weather service's rainstorm signals (events) as a level per area at each origin."""

from __future__ import annotations

import polars as pl

_LEVELS = {"rainstorm_blue": 1, "rainstorm_yellow": 2, "rainstorm_orange": 3, "rainstorm_red": 4}


def rainstorm_level(rows: pl.DataFrame, events: pl.DataFrame) -> pl.Series:
    """The signal in force in each row's area at its origin (0 none .. 4 red).

    ``rows`` holds ``area_id, origin``. Each issue sets its colour's level and a lift clears it;
    only events stamped at or before the origin count.
    """
    sig = (
        events.filter((pl.col("source") == "weather") & pl.col("category").is_in(list(_LEVELS)))
        .select(
            "area_id",
            pl.col("ts").alias("signal_ts"),
            pl.when(pl.col("attrs").str.json_path_match("$.action") == "lift")
            .then(0)
            .otherwise(pl.col("category").replace_strict(_LEVELS, default=0))
            .cast(pl.Int32)
            .alias("rainstorm_level"),
        )
        # a change of colour is a lift and an issue at the same time: the issue wins
        .group_by("area_id", "signal_ts")
        .agg(pl.col("rainstorm_level").max())
        .sort("signal_ts")
    )
    keyed = rows.select("area_id", "origin").with_row_index("_row").sort("origin")
    joined = keyed.join_asof(
        sig,
        left_on="origin",
        right_on="signal_ts",
        by="area_id",
        strategy="backward",
        check_sortedness=False,
    )
    return joined.sort("_row").select(pl.col("rainstorm_level").fill_null(0)).to_series()
