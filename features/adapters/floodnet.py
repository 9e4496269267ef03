"""NYC FloodNet street-flood events, rebuilt into depth series a warning task can forecast.

Layout: the FloodNet events export (``flood-events.csv``: one row per flood with
``sensor_id, sensor_name, flood_start_time, flood_end_time, flood_profile_depth_inches,
flood_profile_time_secs``, the profile as two bracketed lists of equal length, times in
seconds after the start) and, optionally, the sensor deployment table
(``sensor-metadata.csv``: ``sensor_id, date_installed, date_removed, borough,
tidally_influenced, latitude, longitude``).

The export holds floods only: a depth series is rebuilt by stating what the rest was. Each
profile point is a reading (inches -> cm); between floods the street is dry, and that is written
as a 0 cm reading every ``DRY_STEP`` (10 minutes) from the sensor's installation (or ``--start``,
whichever is later) to its removal or its last flood's end, so a forecast grid sees dry time as
known dry, never as missing. Only the sensors with the most floods are rebuilt
(``TOP_SENSORS``, 8, counted from ``--start``: the whole network over its years is tens of
millions of dry readings), and
the notes say which and how many readings of each kind were written.

Times carry no zone in the file, but the data dictionary states them in GMT ("Flood Start
Datetime (GMT)"), and local New York readings would fall in the spring-forward gap (2024-03-10
02:21): they are read as UTC unless ``--tz`` says otherwise. Series ``floodnet-<sensor_id>``
(signal ``ponding_cm``); area ``nyc-<borough>``; attrs the sensor's name, whether it is tidally
influenced, its installation.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from features.adapters.common import (
    FILE,
    ROW,
    AdapterOptions,
    check_zone,
    expand,
    localize,
    parse_start,
    read_text_csv,
    require_columns,
    slug,
    to_datetime,
)
from features.errors import DataError

EVENT_COLUMNS = (
    "sensor_id",
    "sensor_name",
    "flood_start_time",
    "flood_end_time",
    "flood_profile_depth_inches",
    "flood_profile_time_secs",
)
FORMATS = ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d")
ZONE = "UTC"  # the data dictionary: "Flood Start Datetime (GMT)"
DRY_STEP = timedelta(minutes=10)
TOP_SENSORS = 8
IN_TO_CM = 2.54


def adapt(paths: Sequence[Path], options: AdapterOptions) -> dict[str, pl.DataFrame]:
    zone = check_zone(options.tz) if options.tz else ZONE
    files = expand(paths, ("*.csv",))
    events_file = next((f for f in files if "event" in f.stem.lower()), None)
    if events_file is None:
        raise DataError(
            "no FloodNet events file among the inputs (a .csv named like flood-events.csv)",
            file=", ".join(map(str, paths)),
        )
    meta_file = next((f for f in files if "metadata" in f.stem.lower()), None)
    events = _events(events_file, zone)
    start = parse_start(options.start) if options.start else None
    if start is not None and start.tzinfo is None:
        start = start.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)
    if start is not None:  # the most flood-prone since the start
        events = events.filter(pl.col("end") >= start)
    counts = events.group_by("sensor_id").len().sort(["len", "sensor_id"], descending=[True, False])
    top = counts.head(TOP_SENSORS)["sensor_id"].to_list()
    events = events.filter(pl.col("sensor_id").is_in(top))
    meta = _metadata(meta_file, zone) if meta_file is not None else None
    frames, rows = [], []
    for sensor in top:
        floods = events.filter(pl.col("sensor_id") == sensor).sort("start")
        info = meta.filter(pl.col("sensor_id") == sensor) if meta is not None else None
        installed = info["installed"][0] if info is not None and info.height else None
        removed = info["removed"][0] if info is not None and info.height else None
        first = max(t for t in (installed or floods["start"][0], start) if t is not None)
        ends = [t for t in (removed, floods["end"].max()) if isinstance(t, datetime)]
        last = min(ends)
        wet = _profile_readings(floods, events_file)
        wet = wet.filter((pl.col("ts") >= first) & (pl.col("ts") <= last))
        dry = _dry_readings(floods, first, last)
        sid = f"floodnet-{sensor}"
        frames.append(
            pl.concat([wet, dry])
            .sort("ts")
            .unique("ts", keep="first")
            .with_columns(pl.lit(sid).alias("series_id"))
        )
        name = floods["sensor_name"][0]
        borough = info["borough"][0] if info is not None and info.height else None
        rows.append(
            {
                "series_id": sid,
                "signal": "ponding_cm",
                "unit": "cm",
                "area_id": f"nyc-{slug(borough)}" if borough else "nyc",
                "lat": info["lat"][0] if info is not None and info.height else None,
                "lon": info["lon"][0] if info is not None and info.height else None,
                "attrs": json.dumps(
                    {
                        "name": name,
                        "floodnet_sensor": sensor,
                        "tidal": bool(info["tidal"][0])
                        if info is not None and info.height
                        else None,
                        "installed": f"{installed:%Y-%m-%d}" if installed else None,
                    }
                ),
            }
        )
        options.note(
            f"floodnet: {sensor}: {floods.height} floods, {wet.height} profile readings, "
            f"{dry.height} dry readings (0 cm every 10 min) from {first:%Y-%m-%d} to "
            f"{last:%Y-%m-%d}"
        )
    options.note(
        f"floodnet: rebuilt the {len(top)} sensors with the most floods of "
        f"{counts.height}; times read as {zone}"
    )
    observations = pl.concat(frames).select(
        "series_id",
        "ts",
        "value",
        pl.lit(str(events_file)).alias(FILE),
        pl.lit(None, pl.Int64).alias(ROW),
    )
    series = pl.DataFrame(rows)
    areas = series.select(
        "area_id", pl.col("area_id").str.replace("nyc-", "").str.to_titlecase().alias("name")
    ).unique("area_id")
    return {"areas": areas, "series": series, "observations": observations}


def _events(path: Path, zone: str) -> pl.DataFrame:
    raw = read_text_csv(path)
    require_columns(path, raw.columns, EVENT_COLUMNS, "FloodNet events")
    rows = pl.Series(ROW, range(1, raw.height + 1), dtype=pl.Int64)
    out = {"sensor_id": raw["sensor_id"].str.strip_chars(), "sensor_name": raw["sensor_name"]}
    for column, name in (("flood_start_time", "start"), ("flood_end_time", "end")):
        naive = to_datetime(raw[column], FORMATS, file=path, column=column, rows=rows)
        out[name] = localize(naive, zone, file=path, column=column, rows=rows)
    frame = pl.DataFrame(out).with_columns(
        raw["flood_profile_depth_inches"].alias("depths"),
        raw["flood_profile_time_secs"].alias("secs"),
        rows,
    )
    blank = frame["sensor_id"].is_null() | (frame["sensor_id"] == "")
    if blank.any():
        raise DataError(
            "is empty; every flood names its sensor",
            file=str(path),
            row=int(blank.arg_true()[0]) + 1,
            column="sensor_id",
        )
    backwards = frame["end"] < frame["start"]
    if backwards.any():
        raise DataError(
            "ends before it starts",
            file=str(path),
            row=int(backwards.arg_true()[0]) + 1,
            column="flood_end_time",
        )
    return frame


def _profile_readings(floods: pl.DataFrame, path: Path) -> pl.DataFrame:
    """Each flood's profile points as readings (cm), 0 cm at its start and end."""
    ts: list[datetime] = []
    values: list[float] = []
    for row in floods.iter_rows(named=True):
        try:
            depths = json.loads(row["depths"])
            secs = json.loads(row["secs"])
        except (TypeError, json.JSONDecodeError):
            raise DataError(
                "is not a bracketed list of numbers",
                file=str(path),
                row=row[ROW],
                column="flood_profile_depth_inches",
            ) from None
        if len(depths) != len(secs):
            raise DataError(
                f"has {len(depths)} depths for {len(secs)} times",
                file=str(path),
                row=row[ROW],
                column="flood_profile_time_secs",
            )
        depth = np.asarray(depths, dtype=float)
        if (depth < 0).any() or not np.isfinite(depth).all():
            raise DataError(
                "holds a negative or non-numeric depth",
                file=str(path),
                row=row[ROW],
                column="flood_profile_depth_inches",
            )
        ts += [row["start"] + timedelta(seconds=float(s)) for s in secs]
        values += list(depth * IN_TO_CM)
        ts += [row["end"]]
        values += [0.0]
    return pl.DataFrame(
        {"ts": ts, "value": values}, schema={"ts": pl.Datetime("us", "UTC"), "value": pl.Float64}
    )


def _dry_readings(floods: pl.DataFrame, first: datetime, last: datetime) -> pl.DataFrame:
    """0 cm every ``DRY_STEP`` from ``first`` to ``last``, outside every flood."""
    grid = pl.datetime_range(first, last, DRY_STEP, time_unit="us", time_zone="UTC", eager=True)
    inside = np.zeros(grid.len(), dtype=bool)
    stamps = grid.dt.epoch("us").to_numpy()
    for start, end in floods.select("start", "end").iter_rows():
        lo = np.searchsorted(stamps, int(start.timestamp() * 1e6), side="left")
        hi = np.searchsorted(stamps, int(end.timestamp() * 1e6), side="right")
        inside[lo:hi] = True
    return pl.DataFrame({"ts": grid.filter(pl.Series(~inside)), "value": 0.0})


def _metadata(path: Path, zone: str) -> pl.DataFrame:
    raw = read_text_csv(path)
    require_columns(path, raw.columns, ["sensor_id", "date_installed"], "FloodNet sensor metadata")
    rows = pl.Series(ROW, range(1, raw.height + 1), dtype=pl.Int64)
    installed = localize(
        to_datetime(raw["date_installed"], FORMATS, file=path, column="date_installed", rows=rows),
        zone,
        file=path,
        column="date_installed",
        rows=rows,
    )
    given = (
        raw["date_removed"].str.strip_chars()
        if "date_removed" in raw.columns
        else pl.Series([None] * raw.height, dtype=pl.String)
    )
    has = given.is_not_null() & (given != "")
    text = pl.select(pl.when(has).then(given).otherwise(pl.lit("1970-01-01"))).to_series()
    removed = localize(
        to_datetime(text, FORMATS, file=path, column="date_removed", rows=rows),
        zone,
        file=path,
        column="date_removed",
        rows=rows,
    )
    get = lambda c: raw[c] if c in raw.columns else pl.Series([None] * raw.height, dtype=pl.String)  # noqa: E731
    return pl.DataFrame(
        {
            "sensor_id": raw["sensor_id"].str.strip_chars(),
            "installed": installed,
            "removed": pl.select(pl.when(has).then(removed)).to_series(),
            "borough": get("borough"),
            "tidal": get("tidally_influenced").str.to_lowercase() == "yes",
            "lat": get("latitude").cast(pl.Float64, strict=False),
            "lon": get("longitude").cast(pl.Float64, strict=False),
        }
    )
