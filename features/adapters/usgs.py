"""USGS NWIS instantaneous values, one file per site and parameter, as commonly saved to CSV.

Layout: ``datetime,value`` (``YYYY-MM-DD HH:MM[:SS]``, naive) in a file named
``<Site_Name>_<site number>.csv`` (e.g. ``Walnut_Creek_at_Trailwood_Drive_0208734210.csv``).
Optional columns ``site_no`` and ``parameter_cd`` override what the name says.

The parameter (the file holds no header saying it) comes from, in order: a ``parameter_cd``
column; a word in the file name (rain/precip -> 00045, stage/gage_height -> 00065,
discharge/flow -> 00060); ``KNOWN_SITES`` (the Walnut Creek gauges, from NWIS). Otherwise the
file is refused with the way to name it.

Output: one series per site and parameter, ``usgs-<site>-<parameter>``: 00060 discharge ft3/s ->
``discharge_m3s``; 00065 stage ft -> ``water_level_m``; 00045 rain inches per interval ->
``rain_mm``. Timestamps are naive UTC in NWIS exports (``--tz`` overrides). Blank values are
missing and dropped. Lat/lon are decoded from 15-digit site numbers (which are the gauge's
latitude, longitude and a sequence number) and null for 8-10 digit ones.

``upstream``: gauges on the same stream (the name before ``_at_``) are ordered by USGS
downstream order number (the 8-10 digit number padded right; numbers grow downstream within a
basin), and each lists the series of the gauge just above it; ``upstream_all`` lists every gauge
above it, the nearest first (for per-gauge features, ``each``). ``rain_gauge``: when exactly one
rain gauge comes in the same call, every stream gauge links to it. One area per stream; the rain
gauge joins it when exactly one stream comes with it (it is assumed to lie in that watershed).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from features.adapters.common import (
    FILE,
    FT3S_TO_M3S,
    FT_TO_M,
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

# parameter code -> (short name, signal, unit, factor from the NWIS unit)
PARAMETERS = {
    "00060": ("discharge", "discharge_m3s", "m3/s", FT3S_TO_M3S, "ft3/s"),
    "00065": ("stage", "water_level_m", "m", FT_TO_M, "ft"),
    "00045": ("rain", "rain_mm", "mm", IN_TO_MM, "in"),
}
NAME_WORDS = (
    (re.compile(r"rain|precip", re.I), "00045"),
    (re.compile(r"stage|gage_?height|gauge_?height|level", re.I), "00065"),
    (re.compile(r"discharge|streamflow|flow", re.I), "00060"),
)
# Walnut Creek, Raleigh NC (NWIS site pages): what each saved file holds.
KNOWN_SITES = {
    "02087337": "00060",
    "0208734210": "00060",
    "0208734795": "00060",
    "0208735460": "00065",
    "354546078422045": "00045",
}
LAYOUT = ["datetime", "value"]
TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M")


@dataclass(frozen=True)
class Gauge:
    path: Path
    site: str
    name: str
    parameter: str
    stream: str | None

    @property
    def series_id(self) -> str:
        return f"usgs-{self.site}-{PARAMETERS[self.parameter][0]}"


def adapt(paths: Sequence[Path], options: AdapterOptions) -> dict[str, pl.DataFrame]:
    zone = check_zone(options.tz or "UTC")
    files = expand(paths, ("*.csv",))
    if not files:
        raise DataError("no .csv files among the inputs", file=", ".join(map(str, paths)))
    gauges, frames = [], []
    for path in files:
        raw = read_text_csv(path)
        require_columns(path, raw.columns, LAYOUT, "USGS instantaneous values (datetime,value)")
        gauge = _gauge(path, raw)
        rows = pl.Series(ROW, range(1, raw.height + 1), dtype=pl.Int64)
        value = to_float(raw["value"], file=path, column="value", rows=rows)
        naive = to_datetime(raw["datetime"], TIME_FORMATS, file=path, column="datetime", rows=rows)
        ts = localize(naive, zone, file=path, column="datetime", rows=rows)
        _, _, _, factor, unit = PARAMETERS[gauge.parameter]
        frame = pl.DataFrame([rows, ts.alias("ts"), value.alias("raw")]).filter(
            pl.col("raw").is_not_null()
        )
        frames.append(
            frame.select(
                series_id=pl.lit(gauge.series_id),
                ts="ts",
                value=pl.col("raw") * factor,
                **{FILE: pl.lit(str(path)), ROW: pl.col(ROW)},
            )
        )
        gauges.append(gauge)
        options.note(
            f"usgs: {path.name}: site {gauge.site} parameter {gauge.parameter} "
            f"({PARAMETERS[gauge.parameter][0]}, {unit} -> {PARAMETERS[gauge.parameter][2]}); "
            f"{frame.height} values, {raw.height - frame.height} blank dropped; times {zone}"
        )
    seen: dict[str, Path] = {}
    for g in gauges:
        if g.series_id in seen:
            raise DataError(
                f"holds the same site and parameter as {seen[g.series_id]}; pass one file each",
                file=str(g.path),
            )
        seen[g.series_id] = g.path
    series, areas = _catalog(gauges, options)
    return {"areas": areas, "series": series, "observations": pl.concat(frames)}


def _gauge(path: Path, raw: pl.DataFrame) -> Gauge:
    match = re.match(r"^(?P<name>.*?)_?(?P<site>\d{8,15})$", path.stem)
    site = _column_value(raw, "site_no") or (match["site"] if match else None)
    if site is None:
        raise DataError(
            "names no USGS site number; name it <Site_Name>_<site number>.csv or add site_no",
            file=str(path),
        )
    name = (match["name"] if match else path.stem).replace("_", " ").strip() or f"USGS {site}"
    parameter = _column_value(raw, "parameter_cd")
    if parameter is None:
        parameter = next((code for rx, code in NAME_WORDS if rx.search(path.stem)), None)
    parameter = parameter or KNOWN_SITES.get(site)
    if parameter not in PARAMETERS:
        known = ", ".join(f"{c} ({p[0]})" for c, p in PARAMETERS.items())
        raise DataError(
            f"cannot tell the parameter of site {site} ({parameter or 'nothing says'}); "
            f"put rain, stage or discharge in the file name or add parameter_cd (one of {known})",
            file=str(path),
        )
    stream = name.split(" at ")[0].strip() if " at " in name and parameter != "00045" else None
    return Gauge(path, site, name, parameter, stream)


def _column_value(raw: pl.DataFrame, column: str) -> str | None:
    if column not in raw.columns:
        return None
    values = raw[column].drop_nulls().str.strip_chars().unique().to_list()
    if len(values) > 1:
        raise DataError(f"holds several values {values[:3]}; one site and parameter per file")
    return values[0] if values else None


def _site_place(site: str) -> tuple[float | None, float | None]:
    """Latitude and longitude encoded in a 15-digit site number (DDMMSS DDDMMSS NN)."""
    if len(site) != 15:
        return None, None
    lat = int(site[0:2]) + int(site[2:4]) / 60 + int(site[4:6]) / 3600
    lon = int(site[6:9]) + int(site[9:11]) / 60 + int(site[11:13]) / 3600
    return round(lat, 5), -round(lon, 5)  # western hemisphere (all US sites but Guam etc.)


def _catalog(gauges: list[Gauge], options: AdapterOptions) -> tuple[pl.DataFrame, pl.DataFrame]:
    streams = sorted({g.stream for g in gauges if g.stream})
    rains = [g for g in gauges if g.parameter == "00045"]
    upstream: dict[str, list[str]] = {}
    upstream_all: dict[str, list[str]] = {}
    for stream in streams:
        on_it = [g for g in gauges if g.stream == stream and len(g.site) <= 10]
        sites = sorted({g.site for g in on_it}, key=lambda s: s.ljust(10, "0"))
        for above, below in itertools.pairwise(sites):
            ids = [g.series_id for g in on_it if g.site == above]
            for g in on_it:
                if g.site == below:
                    upstream[g.series_id] = ids
        for i, site in enumerate(sites):
            # every gauge above, the nearest first
            above_all = [g.series_id for s in reversed(sites[:i]) for g in on_it if g.site == s]
            for g in on_it:
                if g.site == site:
                    upstream_all[g.series_id] = above_all
        if len(sites) > 1:
            options.note(
                f"usgs: {stream}: gauges ordered downstream by site number: {' -> '.join(sites)}"
            )
    rows = []
    for g in gauges:
        _, signal, unit, _, _ = PARAMETERS[g.parameter]
        attrs: dict = {"usgs_site": g.site, "parameter_cd": g.parameter, "name": g.name}
        if g.stream:
            attrs["river"] = g.stream
            attrs["upstream"] = upstream.get(g.series_id, [])
            attrs["upstream_all"] = upstream_all.get(g.series_id, [])
            if len(rains) == 1:
                attrs["rain_gauge"] = rains[0].series_id
        area = g.stream or (streams[0] if len(streams) == 1 else None)
        lat, lon = _site_place(g.site)
        rows.append(
            {
                "series_id": g.series_id,
                "signal": signal,
                "unit": unit,
                "area_id": f"usgs-{slug(area)}" if area else None,
                "lat": lat,
                "lon": lon,
                "attrs": json.dumps(attrs),
            }
        )
    series = pl.DataFrame(
        rows,
        schema={
            "series_id": pl.String,
            "signal": pl.String,
            "unit": pl.String,
            "area_id": pl.String,
            "lat": pl.Float64,
            "lon": pl.Float64,
            "attrs": pl.String,
        },
    )
    areas = pl.DataFrame(
        {
            "area_id": [f"usgs-{slug(s)}" for s in streams],
            "name": [f"{s} watershed" for s in streams],
        },
        schema={"area_id": pl.String, "name": pl.String},
    )
    return series, areas
