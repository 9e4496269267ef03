"""A raw delivery of observations, as a data scientist would feed it to ``citybrain ingest``.

The canonical table keeps one row per (series_id, ts); a real feed does not. This sample holds
the last day's rain and ponding readings in delivery order, with local +08:00 timestamps,
repeated rows (resent packets), corrected re-sends of a value, and late rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

ISO_LOCAL = "%Y-%m-%dT%H:%M:%S+08:00"


def feed_sample(tables: dict[str, pl.DataFrame], seed: int = 12345) -> pl.DataFrame:
    """Last day's rain and ponding rows with duplicates, corrections and late arrivals."""
    obs = tables["observations"]
    if obs.height == 0:
        return pl.DataFrame(
            schema={c: pl.String for c in ("series_id", "ts", "value", "received_at")}
        )
    end = obs["ts"].max()
    day = obs.filter(
        pl.col("ts") > end - pl.duration(days=1),
        pl.col("series_id").str.starts_with("rain-")
        | pl.col("series_id").str.starts_with("ponding-"),
    )
    rng = np.random.default_rng(seed)
    n = day.height
    repeat = day.filter(pl.Series(rng.random(n) < 0.03))
    fixed = day.filter(pl.Series(rng.random(n) < 0.01)).with_columns(
        value=(pl.col("value") + 0.1).round(1),
        received_at=pl.col("ts") + pl.duration(minutes=20),
    )
    feed = (
        pl.concat([day, repeat, fixed])
        .with_columns(arrival=pl.coalesce("received_at", "ts"))
        .sort("arrival", "series_id", "ts", maintain_order=True)
    )
    local = pl.col("ts").dt.convert_time_zone("Asia/Shanghai").dt.strftime(ISO_LOCAL)
    received = pl.col("received_at").dt.convert_time_zone("Asia/Shanghai").dt.strftime(ISO_LOCAL)
    return feed.select("series_id", ts=local, value="value", received_at=received)


def write_feed(path: Path, tables: dict[str, pl.DataFrame]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    feed_sample(tables).write_csv(path)
