"""The canonical tables: the one contract between stages.

All timestamps are timezone-aware UTC (``Datetime("us", "UTC")``). The city's local zone is
used only for calendar features and display. Every stage reads and writes these schemas; the
validator checks input against them and the simulator writes exactly them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import polars as pl

UTC_TS = pl.Datetime("us", "UTC")
LOCAL_TZ = "Asia/Shanghai"

TABLES = ("areas", "series", "observations", "events", "weather_forecasts")

SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "areas": {
        "area_id": pl.String(),
        "name": pl.String(),
        "name_zh": pl.String(),
        "parent_id": pl.String(),
        "geometry": pl.String(),  # GeoJSON text
    },
    "series": {
        "series_id": pl.String(),
        "signal": pl.String(),
        "unit": pl.String(),
        "area_id": pl.String(),
        "lat": pl.Float64(),
        "lon": pl.Float64(),
        "attrs": pl.String(),  # JSON text: thresholds, neighbours, upstream gauges
    },
    "observations": {
        "series_id": pl.String(),
        "ts": UTC_TS,
        "value": pl.Float64(),
        # When the value reached the platform; null means "ts + the signal's usual latency".
        # Late arrivals carry it so that point-in-time panels can leave them out.
        "received_at": UTC_TS,
    },
    "events": {
        "event_id": pl.String(),
        "ts": UTC_TS,
        "source": pl.String(),
        "category": pl.String(),
        "area_id": pl.String(),
        "lat": pl.Float64(),
        "lon": pl.Float64(),
        "attrs": pl.String(),
    },
    "weather_forecasts": {
        "issued_at": UTC_TS,
        "valid_at": UTC_TS,
        "area_id": pl.String(),
        "variable": pl.String(),
        "value": pl.Float64(),
    },
}

# Columns that may be absent or null in input; every other column is required and non-null.
OPTIONAL_COLUMNS: dict[str, frozenset[str]] = {
    "areas": frozenset({"parent_id", "geometry", "name_zh"}),
    "series": frozenset({"area_id", "lat", "lon", "attrs"}),
    "observations": frozenset({"received_at"}),
    "events": frozenset({"area_id", "lat", "lon", "attrs", "category"}),
    "weather_forecasts": frozenset(),
}

# The key that makes a row unique; a repeated key is an update, never a second row.
KEYS: dict[str, tuple[str, ...]] = {
    "areas": ("area_id",),
    "series": ("series_id",),
    "observations": ("series_id", "ts"),
    "events": ("event_id",),
    "weather_forecasts": ("issued_at", "valid_at", "area_id", "variable"),
}


# How several readings in one grid bin add up: counts and rain sum, levels take the last (or
# mean), depths the max.
Aggregation = Literal["sum", "mean", "max", "last"]


@dataclass(frozen=True)
class SignalSpec:
    """What a known signal means: its unit, physical range and usual reporting latency."""

    unit: str
    low: float
    high: float
    latency_s: int = 0
    # How a signal aggregates onto a coarser grid: rain adds up, levels take the last value.
    aggregation: Aggregation = "last"
    # Whole numbers only (counts): probabilistic scores treat the forecast as discrete.
    discrete: bool = False


SIGNALS: dict[str, SignalSpec] = {
    "rain_mm": SignalSpec("mm", 0.0, 200.0, latency_s=0, aggregation="sum"),
    "water_level_m": SignalSpec("m", -5.0, 30.0),
    "tide_level_m": SignalSpec("m", -5.0, 10.0),
    "ponding_cm": SignalSpec("cm", 0.0, 300.0),
    "speed_kmh": SignalSpec("km/h", 0.0, 160.0, aggregation="mean"),
    "flow_vph": SignalSpec("veh/h", 0.0, 20000.0, aggregation="mean"),
    "temperature_c": SignalSpec("degC", -30.0, 50.0, aggregation="mean"),
    "pump_rate_m3s": SignalSpec("m3/s", 0.0, 500.0, aggregation="mean"),
    "gate_opening": SignalSpec("fraction", 0.0, 1.0),
    # River discharge (streamflow), e.g. USGS gauges and CAMELS basins, converted from ft3/s.
    "discharge_m3s": SignalSpec("m3/s", 0.0, 100000.0, aggregation="mean"),
    "hotline_count": SignalSpec("count", 0.0, 1e6, aggregation="sum", discrete=True),
}


EVENT_SOURCES: dict[str, str] = {
    "hotline": "12345 citizen hotline tickets",
    "urban_mgmt": "urban management (城管) reports",
    "utility": "utility outages and repairs",
    "traffic": "traffic incidents and closures",
    "weather": "weather service signals (rainstorm, typhoon)",
    "holiday": "declared holidays and special days",
}
"""The event feeds the product knows; an event from any other source is refused, so a typo
cannot start a feed that no task reads."""

FORECAST_MAX_LEAD_DAYS = 16
"""A weather forecast valid more than this long after its issue is refused (no service issues
one; a wrong date is likelier)."""


def empty(table: str) -> pl.DataFrame:
    """An empty frame of a canonical table, with the exact schema."""
    return pl.DataFrame(schema=SCHEMAS[table])


def conform(table: str, frame: pl.DataFrame) -> pl.DataFrame:
    """Select and cast a frame to the canonical schema, adding absent optional columns as null.

    Callers validate first; this only normalises column order and dtypes so that files written by
    different stages are byte-compatible.
    """
    schema = SCHEMAS[table]
    cols = []
    for name, dtype in schema.items():
        if name in frame.columns:
            cols.append(pl.col(name).cast(dtype))
        else:
            cols.append(pl.lit(None, dtype=dtype).alias(name))
    return frame.select(cols)
