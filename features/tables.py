"""The canonical tables as one in-memory bundle, read from a store or held by serving.

Feature pipelines take a ``CityTables`` so that the batch path (training, reading the store) and
the online path (serving, holding recent data in memory) call exactly the same code.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

import polars as pl

from features.schemas import SIGNALS, empty
from features.store import Store


@dataclass(frozen=True)
class CityTables:
    series: pl.DataFrame
    observations: pl.DataFrame
    events: pl.DataFrame
    weather_forecasts: pl.DataFrame
    areas: pl.DataFrame

    @classmethod
    def from_store(cls, store: Store, *, since: datetime | None = None) -> CityTables:
        """Read the tables; ``since`` keeps only time-stamped rows at or after it (a window)."""

        def read(table: str, column: str | None) -> pl.DataFrame:
            lazy = store.scan(table)
            if since is not None and column is not None:
                lazy = lazy.filter(pl.col(column) >= since)
            return lazy.collect()

        return cls(
            series=read("series", None),
            observations=read("observations", "ts"),
            events=read("events", "ts"),
            weather_forecasts=read("weather_forecasts", "valid_at"),
            areas=read("areas", None),
        )

    @classmethod
    def empty(cls) -> CityTables:
        return cls(
            *(empty(t) for t in ("series", "observations", "events", "weather_forecasts", "areas"))
        )

    def with_observations(self, observations: pl.DataFrame) -> CityTables:
        return replace(self, observations=observations)

    def until(self, t: datetime) -> CityTables:
        """The tables as they were known at ``t``: what a panel at origin ``t`` may see.

        Observations count from their arrival (``received_at``, else ``ts`` plus the signal's
        latency), forecasts from their issue time and events from their time stamp.
        """
        latency = signal_latency_s(self.series)
        obs = self.observations.join(latency, on="series_id", how="left").filter(
            pl.coalesce(
                pl.col("received_at"), pl.col("ts") + pl.duration(seconds=pl.col("latency_s"))
            )
            <= t
        )
        return replace(
            self,
            observations=obs.drop("latency_s"),
            events=self.events.filter(pl.col("ts") <= t),
            weather_forecasts=self.weather_forecasts.filter(pl.col("issued_at") <= t),
        )


def signal_latency_s(series: pl.DataFrame) -> pl.DataFrame:
    """``series_id, latency_s``: how long after its time stamp a value usually arrives."""
    lat = {name: spec.latency_s for name, spec in SIGNALS.items()}
    return series.select(
        "series_id",
        pl.col("signal").replace_strict(lat, default=0, return_dtype=pl.Int64).alias("latency_s"),
    )
