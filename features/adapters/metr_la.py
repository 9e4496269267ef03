"""METR-LA / PEMS-style road speeds: a speed matrix with a sensor graph.

Input (a folder, or the files): ``*speed*.csv``, a matrix with one column per sensor (the header
holds the sensor ids) and one row per 5-minute step, with no time column; ``*adj*.csv`` (the
square weight matrix, rows and columns in the speed file's sensor order, no header) or
``adj_mx.pkl`` (DCRNN's pickle: ids, id -> index, weights); ``*location*.csv``
(``sensor_id, latitude, longitude``). Only the speed matrix is required.

Output: one area for the network, one ``speed_kmh`` series per sensor (``metr-la-<id>``) with
``attrs`` ``neighbours`` (sensors whose adjacency weight with it, in either direction, is above
``NEIGHBOUR_WEIGHT``, itself excluded) and ``free_flow_kmh`` (the 85th percentile of its
speeds), and the observations.

Assumptions: row ``i`` (0-based) is at ``start + i * 5 min`` of real time, ``start`` being local
time in ``tz`` (defaults 2012-03-01T00:00, America/Los_Angeles: the one week of T-GCN's METR-LA
copy); speeds are mph, converted to km/h; a 0 is a missing reading in METR-LA (the detector
reported nothing), so zeros are dropped, not stored.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl

from features.adapters.common import (
    COLUMN,
    FILE,
    MPH_TO_KMH,
    ROW,
    AdapterOptions,
    check_zone,
    expand,
    parse_start,
    read_text_csv,
    require_columns,
    to_float,
)
from features.errors import DataError
from features.schemas import UTC_TS

DEFAULT_START = "2012-03-01T00:00"
DEFAULT_TZ = "America/Los_Angeles"
STEP = timedelta(minutes=5)
NEIGHBOUR_WEIGHT = 0.5  # DCRNN Gaussian-kernel weight; 0.5 keeps ~4 neighbours per sensor
FREE_FLOW_QUANTILE = 0.85
AREA_ID = "metr-la"
PREFIX = "metr-la-"


def adapt(paths: Sequence[Path], options: AdapterOptions) -> dict[str, pl.DataFrame]:
    files = expand(paths, ("*.csv", "*.pkl", "*.txt"))
    speed_file = _one(files, lambda f: f.suffix == ".csv" and "speed" in f.stem.lower(), "speed")
    if speed_file is None:
        raise DataError(
            "no speed matrix among the inputs; pass the METR-LA folder or a *speed*.csv file",
            file=", ".join(map(str, paths)),
        )
    zone = check_zone(options.tz or DEFAULT_TZ)
    start = parse_start(options.start or DEFAULT_START)
    start_utc = (
        pl.Series([start], dtype=pl.Datetime("us"))
        .dt.replace_time_zone(zone, ambiguous="earliest", non_existent="raise")
        .dt.convert_time_zone("UTC")
        .cast(UTC_TS)[0]
    )

    speeds = read_text_csv(speed_file)
    sensors = [c.strip() for c in speeds.columns]
    if not sensors or not all(s.isdigit() for s in sensors):
        bad = next((s for s in sensors if not s.isdigit()), "")
        raise DataError(
            f"header must hold one sensor id (digits) per column, found {bad!r}; "
            "METR-LA has no time column",
            file=str(speed_file),
            row=0,
            column=bad,
        )
    rows = pl.Series(ROW, range(1, speeds.height + 1), dtype=pl.Int64)
    numeric = pl.DataFrame(
        [rows]
        + [
            to_float(speeds[c], file=speed_file, column=s, rows=rows).alias(s)
            for c, s in zip(speeds.columns, sensors, strict=True)
        ]
    )
    long = numeric.unpivot(index=ROW, variable_name="sensor", value_name="mph")
    zeros = long.filter(pl.col("mph") == 0).height
    blanks = long.filter(pl.col("mph").is_null()).height
    long = long.filter(pl.col("mph") != 0)
    observations = long.select(
        series_id=PREFIX + pl.col("sensor"),
        ts=pl.lit(start_utc, dtype=UTC_TS) + (pl.col(ROW) - 1) * pl.duration(minutes=5),
        value=pl.col("mph") * MPH_TO_KMH,
        **{FILE: pl.lit(str(speed_file)), ROW: pl.col(ROW), COLUMN: pl.col("sensor")},
    )
    options.note(
        f"metr-la: {speed_file.name}: {len(sensors)} sensors x {speeds.height} steps of 5 min "
        f"from {start.isoformat()} {zone}; dropped {zeros} zero readings (missing in METR-LA)"
        + (f" and {blanks} blanks" if blanks else "")
        + "; mph converted to km/h"
    )

    neighbours = _neighbours(files, sensors, options)
    free_flow = observations.group_by("series_id").agg(
        pl.col("value").quantile(FREE_FLOW_QUANTILE, "linear").round(1).alias("free_flow")
    )
    flows = dict(free_flow.iter_rows())
    places = _locations(files)
    series = pl.DataFrame(
        {
            "series_id": [PREFIX + s for s in sensors],
            "signal": "speed_kmh",
            "unit": "km/h",
            "area_id": AREA_ID,
            "lat": [places.get(s, (None, None))[0] for s in sensors],
            "lon": [places.get(s, (None, None))[1] for s in sensors],
            "attrs": [
                json.dumps(
                    {
                        "sensor_id": s,
                        "free_flow_kmh": flows.get(PREFIX + s),
                        "neighbours": [PREFIX + n for n in neighbours.get(s, [])],
                    }
                )
                for s in sensors
            ],
        },
        schema_overrides={"lat": pl.Float64, "lon": pl.Float64},
    )
    areas = pl.DataFrame(
        {"area_id": [AREA_ID], "name": ["METR-LA road sensor network (Los Angeles)"]}
    )
    return {"areas": areas, "series": series, "observations": observations}


def _one(files: list[Path], test: Callable[[Path], bool], what: str) -> Path | None:
    found = [f for f in files if test(f)]
    if len(found) > 1:
        raise DataError(
            f"more than one {what} file among the inputs ({', '.join(f.name for f in found)}); "
            "pass one network at a time"
        )
    return found[0] if found else None


def _neighbours(files: list[Path], sensors: list[str], options: AdapterOptions) -> dict:
    """sensor -> adjacent sensors above the weight threshold (either direction), self excluded."""
    adj_csv = _one(files, lambda f: f.suffix == ".csv" and "adj" in f.stem.lower(), "adjacency")
    adj_pkl = _one(files, lambda f: f.suffix == ".pkl", "adjacency pickle")
    order = sensors
    if adj_csv is not None:
        raw = read_text_csv(adj_csv, has_header=False)
        weights = np.column_stack(
            [
                to_float(raw[c], file=adj_csv, column=f"column {i + 1}").to_numpy()
                for i, c in enumerate(raw.columns)
            ]
        )
        source = adj_csv
    elif adj_pkl is not None:
        try:
            with adj_pkl.open("rb") as fh:
                order, _, weights = pickle.load(fh, encoding="latin1")  # a local data file
            order = [str(s) for s in order]
        except (OSError, pickle.UnpicklingError, ValueError, TypeError, EOFError) as err:
            raise DataError(f"is not a DCRNN adj_mx pickle: {err}", file=str(adj_pkl)) from None
        weights = np.asarray(weights, dtype=float)
        source = adj_pkl
    else:
        options.note("metr-la: no adjacency file given; series have no neighbours")
        return {}
    n = len(order)
    if weights.shape != (n, n):
        raise DataError(
            f"adjacency is {weights.shape[0]} x {weights.shape[1]}, expected {n} x {n} "
            "(one row and column per sensor of the speed matrix, in its order)",
            file=str(source),
        )
    linked = (weights > NEIGHBOUR_WEIGHT) | (weights.T > NEIGHBOUR_WEIGHT)
    np.fill_diagonal(linked, False)
    options.note(
        f"metr-la: neighbours from {source.name}: weight > {NEIGHBOUR_WEIGHT} in either "
        f"direction; median {int(np.median(linked.sum(axis=1)))} per sensor"
    )
    return {order[i]: [order[j] for j in np.flatnonzero(linked[i])] for i in range(n)}


def _locations(files: list[Path]) -> dict[str, tuple[float | None, float | None]]:
    path = _one(files, lambda f: f.suffix == ".csv" and "location" in f.stem.lower(), "locations")
    if path is None:
        return {}
    raw = read_text_csv(path)
    require_columns(path, raw.columns, ["sensor_id", "latitude", "longitude"], "sensor locations")
    lat = to_float(raw["latitude"], file=path, column="latitude")
    lon = to_float(raw["longitude"], file=path, column="longitude")
    ids = raw["sensor_id"].str.strip_chars().to_list()
    return {s: (a, b) for s, a, b in zip(ids, lat.to_list(), lon.to_list(), strict=True)}
