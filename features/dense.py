"""Positional lookups into dense grids: the fast path from grid values to feature rows.

Every grid the pipeline builds is dense and sorted: each key holds the same run of time bins
from the same start. A value for (key, time) therefore sits at ``key_index * n_bins + bin``,
and gathering by that position replaces a hash join on (string key, timestamp).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl


def bin_index(ts: pl.Series, start: datetime, step: timedelta) -> np.ndarray:
    """The grid bin of each time stamp (times are on the grid)."""
    step_us = int(step / timedelta(microseconds=1))
    start_us = int((start - datetime(1970, 1, 1, tzinfo=start.tzinfo)) / timedelta(microseconds=1))
    return ((ts.dt.epoch("us").to_numpy() - start_us) // step_us).astype(np.int64)


def key_order(grid: pl.DataFrame, key: str) -> dict[str, int]:
    """Each key's block index in a dense grid sorted by key."""
    return {k: i for i, k in enumerate(grid[key].unique(maintain_order=True).to_list())}


def gather(
    grid: pl.DataFrame,
    *,
    key: str,
    row_keys: pl.Series,
    row_bins: np.ndarray,
    columns: list[str],
) -> pl.DataFrame:
    """``columns`` of the dense ``grid`` at each row's (key, bin); null where the key is unknown
    or the bin falls outside the grid."""
    order = key_order(grid, key)
    n_keys = len(order)
    if n_keys == 0:
        return pl.DataFrame(
            {c: pl.Series(c, [None] * len(row_bins), dtype=grid.schema[c]) for c in columns}
        )
    n_bins = grid.height // n_keys
    block = row_keys.replace_strict(order, default=None, return_dtype=pl.Int64).to_numpy()
    ok = ~np.isnan(block.astype(float)) & (row_bins >= 0) & (row_bins < n_bins)
    pos = np.where(ok, np.nan_to_num(block.astype(float)).astype(np.int64) * n_bins + row_bins, 0)
    picked = grid.select(columns)[pos]
    if ok.all():
        return picked
    mask = pl.lit(pl.Series("_ok", ok))
    return picked.select(pl.when(mask).then(pl.col(c)).otherwise(None).alias(c) for c in columns)
