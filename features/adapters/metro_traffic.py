"""UCI Metro Interstate Traffic Volume: hourly traffic at one road counter, with weather.

Layout (one CSV, or several covering different years): ``holiday, temp, rain_1h, snow_1h,
clouds_all, weather_main, weather_description, date_time, traffic_volume``; ``date_time`` and
``traffic_volume`` are required, the rest optional. Times are naive local time,
``YYYY-MM-DD HH:MM:SS``, America/Chicago (``--tz`` overrides); ``traffic_volume`` is vehicles
in the hour, ``temp`` kelvin, ``rain_1h`` mm in the hour.

Output: one area (``i94-minneapolis``, the MnDOT counter on westbound I-94 between
Minneapolis and St Paul) and three series: ``i94-wb-volume`` (``flow_vph``),
``i94-wb-rain`` (``rain_mm``) and ``i94-wb-temperature`` (``temperature_c``, kelvin converted).
Named holidays (the ``holiday`` column, set on the first hour of the day) become events
(``source`` ``holiday``, ``category`` the name in snake_case) at the local midnight that starts
the day. Snow, clouds and the weather words are not carried over.

The raw file has known faults; each rule below is applied by the adapter and reported in the
notes with its count and the first raw rows, never silently:

- A repeated hour: the source writes one row per weather condition reported in the hour. The
  copies must agree on ``traffic_volume`` (otherwise the file is refused, naming both rows); their
  temperature and rain are averaged (the notes count hours whose copies disagreed).
- ``temp`` of 0 K is the source's missing-value marker: dropped.
- Any value outside its signal's physical range (``features.schemas.SIGNALS``; for rain 0 to 200
  mm in an hour, so the 9,831.3 mm of 2016-07-11 17:00) is a sensor or export error: dropped.
- Missing hours stay missing (nothing is filled); the notes give their number and the longest gap.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from features.adapters.common import (
    COLUMN,
    FILE,
    ROW,
    AdapterOptions,
    check_zone,
    expand,
    localize,
    read_text_csv,
    require_columns,
    snake_case,
    to_datetime,
    to_float,
)
from features.errors import DataError
from features.schemas import SIGNALS

DEFAULT_TZ = "America/Chicago"
AREA_ID = "i94-minneapolis"
AREA_NAME = "I-94 westbound, Minneapolis-St Paul (MnDOT ATR 301)"
PREFIX = "i94-wb"
REQUIRED = ["date_time", "traffic_volume"]
TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S")
KELVIN = 273.15
MISSING_KELVIN = 0.0
# raw column -> (series suffix, signal, unit, conversion from the raw unit)
COLUMNS = {
    "traffic_volume": ("volume", "flow_vph", "veh/h", lambda v: v),
    "temp": ("temperature", "temperature_c", "degC", lambda v: v - KELVIN),
    "rain_1h": ("rain", "rain_mm", "mm", lambda v: v),
}
SHOWN = 3  # raw rows named per rule in the notes


def adapt(paths: Sequence[Path], options: AdapterOptions) -> dict[str, pl.DataFrame]:
    zone = check_zone(options.tz or DEFAULT_TZ)
    files = expand(paths, ("*.csv",))
    if not files:
        raise DataError("no .csv files among the inputs", file=", ".join(map(str, paths)))
    longs, holidays = [], []
    for path in files:
        raw = read_text_csv(path)
        raw = raw.rename({c: c.strip().lower() for c in raw.columns})
        require_columns(path, raw.columns, REQUIRED, "Metro Interstate Traffic Volume")
        rows = pl.Series(ROW, range(1, raw.height + 1), dtype=pl.Int64)
        naive = to_datetime(
            raw["date_time"], TIME_FORMATS, file=path, column="date_time", rows=rows
        )
        ts = localize(naive, zone, file=path, column="date_time", rows=rows)
        for column, (suffix, signal, _, convert) in COLUMNS.items():
            if column not in raw.columns:
                continue
            value = to_float(raw[column], file=path, column=column, rows=rows)
            longs.append(
                pl.DataFrame([rows, ts.alias("ts"), value.alias("raw")]).select(
                    series_id=pl.lit(f"{PREFIX}-{suffix}"),
                    ts="ts",
                    raw="raw",
                    value=convert(pl.col("raw")),
                    signal=pl.lit(signal),
                    **{FILE: pl.lit(str(path)), ROW: pl.col(ROW), COLUMN: pl.lit(column)},
                )
            )
        if "holiday" in raw.columns:
            holidays.append(_holidays(path, raw, rows, naive, zone))
    long = pl.concat(longs).filter(pl.col("raw").is_not_null())
    long = _drop_faults(long, options)
    _check_volume_copies(long)
    observations = _merge_copies(long, options)
    _note_gaps(observations, zone, options)
    events = pl.concat(holidays) if holidays else pl.DataFrame()
    return {
        "areas": pl.DataFrame({"area_id": [AREA_ID], "name": [AREA_NAME]}),
        "series": _catalog(observations),
        "observations": observations,
        **({"events": events} if events.height else {}),
    }


def _rows_text(frame: pl.DataFrame) -> str:
    """``rows 3, 4, 9 and 2 more of a.csv``: where a rule struck, in raw data rows."""
    parts = []
    for (name,), rows in frame.group_by(FILE, maintain_order=True):
        shown = ", ".join(str(r) for r in rows[ROW].head(SHOWN))
        more = f" and {rows.height - SHOWN} more" if rows.height > SHOWN else ""
        parts.append(f"rows {shown}{more} of {Path(name).name}")
    return "; ".join(parts)


def _drop_faults(long: pl.DataFrame, options: AdapterOptions) -> pl.DataFrame:
    """Drop the 0 K missing marker and values outside the signal's range, with notes."""
    marker = (pl.col(COLUMN) == "temp") & (pl.col("raw") == MISSING_KELVIN)
    missing = long.filter(marker)
    if missing.height:
        options.note(
            f"metro-traffic: temp 0 K is the source's missing marker: {missing.height} values "
            f"dropped ({_rows_text(missing)})"
        )
    long = long.filter(~marker)
    bounds = pl.DataFrame(
        [(s, spec.low, spec.high) for s, spec in SIGNALS.items()],
        schema=["signal", "_low", "_high"],
        orient="row",
    )
    long = long.join(bounds, on="signal", how="left", maintain_order="left")
    outside = ~pl.col("value").is_between(pl.col("_low"), pl.col("_high"))
    for record in (
        long.filter(outside)
        .group_by(COLUMN, "signal", "_low", "_high", maintain_order=True)
        .agg(pl.len(), pl.col(FILE), pl.col(ROW), pl.col("raw"))
        .iter_rows(named=True)
    ):
        shown = [
            f"{f.rsplit('/', 1)[-1]} row {r} ({v:g})"
            for f, r, v in list(zip(record[FILE], record[ROW], record["raw"], strict=True))[:SHOWN]
        ]
        options.note(
            f"metro-traffic: {record['len']} {record[COLUMN]} values outside the range of "
            f"{record['signal']} ({record['_low']:g} to {record['_high']:g}) dropped as sensor "
            f"or export errors: {', '.join(shown)}"
        )
    return long.filter(~outside).drop("_low", "_high")


def _check_volume_copies(long: pl.DataFrame) -> None:
    """Copies of an hour must report one traffic volume; the first clash refuses the file."""
    volume = long.filter(pl.col(COLUMN) == "traffic_volume").sort(FILE, ROW)
    clash = volume.filter(pl.col("value").n_unique().over("ts") > 1)
    if clash.is_empty():
        return
    hour = clash.filter(pl.col("ts") == clash["ts"][0])
    first = hour.row(0, named=True)
    other = hour.filter(pl.col("raw") != first["raw"]).row(0, named=True)
    raise DataError(
        f"repeats the hour of row {first[ROW]} with traffic_volume {other['raw']:g} instead of "
        f"{first['raw']:g}; copies of an hour (one row per weather condition) must agree",
        file=other[FILE],
        row=other[ROW],
        column="traffic_volume",
    )


def _merge_copies(long: pl.DataFrame, options: AdapterOptions) -> pl.DataFrame:
    """One value per series and hour: the copies' mean, kept at the first copy's raw row."""
    merged = (
        long.sort(FILE, ROW)
        .group_by("series_id", "ts", maintain_order=True)
        .agg(
            pl.col("value").mean(),
            pl.col("value").n_unique().alias("_distinct"),
            pl.len().alias("_copies"),
            pl.col(FILE).first(),
            pl.col(ROW).first(),
            pl.col(COLUMN).first(),
        )
    )
    hours = merged.filter(pl.col("series_id") == f"{PREFIX}-volume")
    repeated = hours.filter(pl.col("_copies") > 1)
    if repeated.height:
        disagree = merged.filter(pl.col("_distinct") > 1)
        by_column = ", ".join(
            f"{c} in {n}" for c, n in disagree.group_by(COLUMN).len().sort(COLUMN).iter_rows()
        )
        options.note(
            f"metro-traffic: {repeated.height} hours repeated (one row per weather condition, "
            f"{int(repeated['_copies'].sum()) - repeated.height} extra rows) merged into one; "
            "traffic volumes agree; temperature and rain averaged over the copies"
            + (f" (copies differed: {by_column} hours)" if by_column else "")
        )
    return merged.select("series_id", "ts", "value", FILE, ROW, COLUMN).sort("series_id", "ts")


def _note_gaps(observations: pl.DataFrame, zone: str, options: AdapterOptions) -> None:
    hours = observations.filter(pl.col("series_id") == f"{PREFIX}-volume")["ts"].sort()
    if hours.len() < 2:
        return
    steps = hours.diff().dt.total_hours().drop_nulls()
    missing = int((steps - 1).clip(lower_bound=0).sum())
    longest = int(steps.arg_max() or 0)
    gap, after = int(steps[longest]) - 1, hours[longest]
    options.note(
        f"metro-traffic: {hours.len()} hours of traffic volume from {hours[0]:%Y-%m-%d %H:%M} to "
        f"{hours[-1]:%Y-%m-%d %H:%M} UTC (times read in {zone}); {missing} hours missing, left "
        f"missing; longest gap {gap} hours after {after:%Y-%m-%d %H:%M}"
    )


def _holidays(
    path: Path, raw: pl.DataFrame, rows: pl.Series, naive: pl.Series, zone: str
) -> pl.DataFrame:
    name = raw["holiday"].str.strip_chars()
    named = name.is_not_null() & (name != "") & (name != "None")
    day = localize(naive.dt.truncate("1d"), zone, file=path, column="date_time", rows=rows)
    frame = pl.DataFrame([rows, day.alias("ts"), name.alias("name"), named.alias("_named")]).filter(
        "_named"
    )
    return frame.select(
        event_id=pl.lit(f"{PREFIX}:holiday:") + pl.col("ts").dt.strftime("%Y-%m-%d"),
        ts="ts",
        source=pl.lit("holiday"),
        category=snake_case(pl.col("name")),
        area_id=pl.lit(AREA_ID),
        attrs=pl.struct(pl.col("name")).struct.json_encode(),
        **{FILE: pl.lit(str(path)), ROW: pl.col(ROW)},
    ).unique("event_id", keep="first", maintain_order=True)


def _catalog(observations: pl.DataFrame) -> pl.DataFrame:
    present = set(observations["series_id"].unique().to_list())
    rows = [
        {
            "series_id": f"{PREFIX}-{suffix}",
            "signal": signal,
            "unit": unit,
            "area_id": AREA_ID,
            "attrs": json.dumps({"source_column": column, "direction": "westbound"}),
        }
        for column, (suffix, signal, unit, _) in COLUMNS.items()
        if f"{PREFIX}-{suffix}" in present
    ]
    return pl.DataFrame(rows)
