"""Hourly airport weather (NOAA ASOS/METAR), in the layout of the nycflights13 ``weather`` table.

Layout: ``origin, year, month, day, hour, temp, dewp, humid, wind_dir, wind_speed, wind_gust,
precip, pressure, visib, time_hour`` (``origin`` and ``time_hour`` required; ``precip`` and
``temp`` read when present). ``time_hour`` is ISO 8601: with ``Z`` or an offset it is exact
(nycflights13's CSV writes UTC with ``Z``); without one it is read in ``--tz``, and without
``--tz`` refused. ``NA`` and blanks are missing values and dropped.

Output per station (``origin``): ``asos-<origin>-rain`` (``rain_mm``: ``precip``, inches
accumulated in the hour ending at ``time_hour``, so stamped at ``time_hour``, the end of its
bin) and ``asos-<origin>-temperature`` (``temperature_c`` from degrees F). Stations in
``KNOWN_STATIONS`` get their place and area (New York City's three airports: area ``nyc``, so
area-linked covariates of New York targets average them); others get area ``asos-<origin>``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from features.adapters.common import (
    COLUMN,
    FILE,
    IN_TO_MM,
    ROW,
    AdapterOptions,
    check_zone,
    expand,
    localize,
    read_text_csv,
    require_columns,
    slug,
    to_datetime,
    to_float,
)
from features.errors import DataError
from features.schemas import UTC_TS

# station -> (name, lat, lon, area_id, area name)
KNOWN_STATIONS = {
    "EWR": ("Newark Liberty International Airport", 40.6925, -74.1687, "nyc", "New York City"),
    "JFK": ("John F. Kennedy International Airport", 40.6398, -73.7789, "nyc", "New York City"),
    "LGA": ("LaGuardia Airport", 40.7772, -73.8726, "nyc", "New York City"),
}
MISSING = ("NA", "N/A", "")
# raw column -> (series suffix, signal, unit, conversion from the raw unit)
COLUMNS = {
    "precip": ("rain", "rain_mm", "mm", lambda v: v * IN_TO_MM),
    "temp": ("temperature", "temperature_c", "degC", lambda v: (v - 32.0) * 5.0 / 9.0),
}
AWARE = ("%Y-%m-%dT%H:%M:%S%#z", "%Y-%m-%dT%H:%M%#z", "%Y-%m-%d %H:%M:%S%#z")
NAIVE = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M")


def adapt(paths: Sequence[Path], options: AdapterOptions) -> dict[str, pl.DataFrame]:
    zone = check_zone(options.tz) if options.tz else None
    files = expand(paths, ("*.csv",))
    if not files:
        raise DataError("no .csv files among the inputs", file=", ".join(map(str, paths)))
    frames = []
    for path in files:
        raw = read_text_csv(path)
        raw = raw.rename({c: c.strip().lower() for c in raw.columns})
        require_columns(path, raw.columns, ["origin", "time_hour"], "ASOS hourly weather")
        rows = pl.Series(ROW, range(1, raw.height + 1), dtype=pl.Int64)
        ts = _times(path, raw["time_hour"], rows, zone)
        station = raw["origin"].str.strip_chars().str.to_uppercase()
        blank = station.is_null() | (station == "")
        if blank.any():
            raise DataError(
                "is empty; every row needs its station",
                file=str(path),
                row=int(blank.arg_true()[0]) + 1,
                column="origin",
            )
        read = [c for c in COLUMNS if c in raw.columns]
        if not read:
            raise DataError(
                f"has none of the weather columns read ({', '.join(COLUMNS)})", file=str(path)
            )
        for column in read:
            suffix, _, _, convert = COLUMNS[column]
            text = raw[column].str.strip_chars()
            text = pl.select(pl.when(text.is_in(MISSING)).then(None).otherwise(text)).to_series()
            value = to_float(text, file=path, column=column, rows=rows)
            frame = pl.DataFrame([rows, ts.alias("ts"), station.alias("station"), value.alias("v")])
            dropped = frame["v"].null_count()
            frames.append(
                frame.drop_nulls("v").select(
                    series_id=pl.lit("asos-") + pl.col("station").str.to_lowercase() + f"-{suffix}",
                    ts="ts",
                    value=convert(pl.col("v")),
                    station="station",
                    **{FILE: pl.lit(str(path)), ROW: pl.col(ROW), COLUMN: pl.lit(column)},
                )
            )
            options.note(
                f"asos: {path.name}: {column} -> {COLUMNS[column][1]} ({COLUMNS[column][2]}); "
                f"{frame.height - dropped} values, {dropped} missing (NA or blank) dropped"
            )
    observations = pl.concat(frames)
    stations = sorted(observations["station"].unique().to_list())
    series, areas = _catalog(observations, stations, options)
    return {
        "areas": areas,
        "series": series,
        "observations": observations.drop("station"),
    }


def _times(path: Path, text: pl.Series, rows: pl.Series, zone: str | None) -> pl.Series:
    text = text.str.strip_chars().str.replace(r"Z$", "+00:00")
    aware = text.str.contains(r"[+-]\d{2}:?\d{2}$").fill_null(False)
    exact = pl.select(
        pl.coalesce(
            [pl.lit(text).str.to_datetime(f, strict=False, time_unit="us") for f in AWARE]
        ).dt.convert_time_zone("UTC")
    ).to_series()
    if (~aware).any():
        if zone is None:
            first = int((~aware).arg_true()[0])
            raise DataError(
                f"{text[first]!r} has no time zone; write it with Z or an offset, or pass --tz",
                file=str(path),
                row=int(rows[first]),
                column="time_hour",
            )
        naive_text = pl.select(pl.when(~aware).then(text)).to_series()
        filled = naive_text.fill_null("1970-01-01T00:00:00")
        naive = to_datetime(filled, NAIVE, file=path, column="time_hour", rows=rows)
        local = localize(naive, zone, file=path, column="time_hour", rows=rows)
        exact = pl.select(pl.when(aware).then(exact).otherwise(local)).to_series()
    bad = exact.is_null()
    if bad.any():
        first = int(bad.arg_true()[0])
        raise DataError(
            f"{text[first]!r} is not a time",
            file=str(path),
            row=int(rows[first]),
            column="time_hour",
        )
    return exact.cast(UTC_TS)


def _catalog(
    observations: pl.DataFrame, stations: list[str], options: AdapterOptions
) -> tuple[pl.DataFrame, pl.DataFrame]:
    rows, areas = [], {}
    present = set(observations["series_id"].unique().to_list())
    for station in stations:
        name, lat, lon, area, area_name = KNOWN_STATIONS.get(
            station, (f"ASOS station {station}", None, None, f"asos-{slug(station)}", None)
        )
        areas[area] = area_name or name
        if station not in KNOWN_STATIONS:
            options.note(f"asos: station {station} is not known: no place, area {area}")
        for suffix, signal, unit, _ in COLUMNS.values():
            sid = f"asos-{station.lower()}-{suffix}"
            if sid not in present:
                continue
            rows.append(
                {
                    "series_id": sid,
                    "signal": signal,
                    "unit": unit,
                    "area_id": area,
                    "lat": lat,
                    "lon": lon,
                    "attrs": json.dumps({"station": station, "name": name}),
                }
            )
    series = pl.DataFrame(rows, schema_overrides={"lat": pl.Float64, "lon": pl.Float64})
    area_frame = pl.DataFrame({"area_id": list(areas), "name": list(areas.values())})
    return series, area_frame
