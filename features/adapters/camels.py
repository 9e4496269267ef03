"""CAMELS-US daily basin data: streamflow, basin-mean forcing and attributes.

Input: the CAMELS folder (or its files): ``usgs_streamflow/**/<gauge>_streamflow_qc.txt``
(``gauge year month day flow_cfs flag``, whitespace-separated), ``basin_mean_forcing/<source>/
**/<gauge>_lump_*_forcing_leap.txt`` (3 header lines: latitude, elevation m, area m2; then a
``Year Mnth Day Hr ...`` header), and optionally ``camels_attributes_v2.0/camels_topo.txt`` and
``camels_name.txt`` (``;``-separated). ``--forcing`` picks the forcing source (``daymet``,
default; its files are named ``cida``; or ``maurer``, ``nldas``, ...).

Output per basin (area ``camels-<gauge>``): ``camels-<gauge>-discharge`` (``discharge_m3s``,
ft3/s -> m3/s; -999 and other negatives are missing and dropped; the quality flag (A, A:e, M)
is counted in the notes only), ``camels-<gauge>-rain`` (``rain_mm``: ``prcp`` mm/day) and
``camels-<gauge>-temperature`` (``temperature_c``: mean of ``tmax`` and ``tmin``).

Time convention: a value of local day D is stamped at the END of the day, D+1 00:00 local time,
converted to UTC (a daily total is known once the day is over, and the grid's bins are
``(t - step, t]``). The zone is ``--tz`` if given, else the basin's from its gauge longitude
(``zone_for_longitude``: a coarse US map, east of -85 Eastern, to -101 Central, to -114.5
Mountain, else Pacific; pass ``--tz`` for basins near a boundary or in Arizona).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from features.adapters.common import (
    FILE,
    FT3S_TO_M3S,
    ROW,
    AdapterOptions,
    check_zone,
    expand,
    read_lines,
    read_text_csv,
    require_columns,
    to_float,
)
from features.errors import DataError
from features.schemas import UTC_TS

DEFAULT_FORCING = "daymet"
FORCING_FILE_NAMES = {"daymet": "cida"}  # source -> the word in its file names
FORCING_HEADER_LINES = 4


def zone_for_longitude(lon: float) -> str:
    """A coarse US time zone from longitude (CAMELS-US basins are all in the lower 48)."""
    if lon > -85.0:
        return "America/New_York"
    if lon > -101.0:
        return "America/Chicago"
    if lon > -114.5:
        return "America/Denver"
    return "America/Los_Angeles"


def adapt(paths: Sequence[Path], options: AdapterOptions) -> dict[str, pl.DataFrame]:
    """Areas, series and observations of every basin with a streamflow or a forcing file.

    Everything that can be refused without reading the series is checked first (no files, no
    file of the chosen forcing, unreadable attributes, an unknown ``--tz``); then the basins are
    read in gauge order, each noting its time zone and forcing.
    """
    forcing = (options.forcing or DEFAULT_FORCING).lower()
    files = expand(paths, ("*.txt",))
    flows = {_gauge_of(f): f for f in files if f.name.endswith("_streamflow_qc.txt")}
    forcings = _forcing_files(files, forcing)
    gauges = sorted(set(flows) | set(forcings))
    if not gauges:
        raise DataError(
            "no CAMELS streamflow (*_streamflow_qc.txt) or forcing (*_forcing_leap.txt) files",
            file=", ".join(map(str, paths)),
        )
    attrs = _attributes(files)
    if options.tz:
        check_zone(options.tz)
    basins = [
        _basin(gauge, attrs.get(gauge, {}), flows.get(gauge), forcings.get(gauge), forcing, options)
        for gauge in gauges
    ]
    return _tables(basins)


@dataclass
class _Basin:
    """One basin's rows: its area, its series (id, signal, unit, attrs), their observations
    and the gauge's place (lat, lon; either may be unknown)."""

    area: dict[str, str]
    series: list[tuple[str, str, str, dict]]
    observations: list[pl.DataFrame]
    place: tuple[float | None, float | None]


def _forcing_files(files: list[Path], forcing: str) -> dict[str, Path]:
    """gauge -> its forcing file from source ``forcing``; an error if forcing files were given
    but none from that source (a typo in ``--forcing`` must not silently drop rain)."""
    word = FORCING_FILE_NAMES.get(forcing, forcing)
    all_forcing = [f for f in files if "_forcing" in f.name]
    forcings = {
        _gauge_of(f): f
        for f in all_forcing
        if f"_lump_{word}_" in f.name and (forcing in f.parent.name or word in f.parent.name)
    }
    if all_forcing and not forcings:
        sources = sorted({f.parent.name for f in all_forcing})
        raise DataError(f"no {forcing!r} forcing files; found sources {', '.join(sources)}")
    return forcings


def _basin(
    gauge: str,
    info: dict,
    flow: Path | None,
    forcing_file: Path | None,
    forcing: str,
    options: AdapterOptions,
) -> _Basin:
    """One basin's area, series and observations; attributes ``info`` from ``camels_topo.txt``
    and ``camels_name.txt`` where given, else from the forcing file's header."""
    header = _forcing_header(forcing_file) if forcing_file is not None else {}
    lat = info.get("gauge_lat", header.get("lat"))
    lon = info.get("gauge_lon")
    zone = _zone(gauge, lon, options.tz)
    name = info.get("gauge_name") or f"CAMELS basin {gauge}"
    area_id = f"camels-{gauge}"
    basin = _Basin({"area_id": area_id, "name": name}, [], [], (lat, lon))
    base = {
        "usgs_site": gauge,
        "gauge_name": name,
        "area_km2": info.get("area_gages2", header.get("area_km2")),
        "huc_02": info.get("huc_02"),
        "time_zone": zone,
        "stamp": "end of local day",
    }
    rain_id = f"{area_id}-rain"
    if flow is not None:
        obs = _streamflow(flow, gauge, zone, options)
        basin.observations.append(obs.with_columns(series_id=pl.lit(f"{area_id}-discharge")))
        basin.series.append(
            (f"{area_id}-discharge", "discharge_m3s", "m3/s", {**base, "rain_gauge": rain_id})
        )
    if forcing_file is not None:
        rain, temp = _forcing(forcing_file, zone)
        basin.observations += [
            rain.with_columns(series_id=pl.lit(rain_id)),
            temp.with_columns(series_id=pl.lit(f"{area_id}-temperature")),
        ]
        basin.series += [
            (rain_id, "rain_mm", "mm", {**base, "forcing": forcing}),
            (f"{area_id}-temperature", "temperature_c", "degC", {**base, "forcing": forcing}),
        ]
    options.note(
        f"camels: basin {gauge} ({name}): days stamped at the end of the local day in {zone}"
        + (f"; forcing {forcing}" if forcing_file is not None else "; no forcing file")
    )
    return basin


def _zone(gauge: str, lon: float | None, tz: str | None) -> str:
    """``--tz`` if given, else the zone of the gauge's longitude; refused if neither is known."""
    if tz:
        return tz
    if lon is not None:
        return zone_for_longitude(lon)
    raise DataError(
        f"basin {gauge}: no longitude (camels_topo.txt absent) to tell its time zone; "
        "pass --tz ZONE"
    )


def _tables(basins: list[_Basin]) -> dict[str, pl.DataFrame]:
    """The canonical tables of the basins, in gauge order."""
    series_frame = pl.DataFrame(
        [
            {
                "series_id": sid,
                "signal": signal,
                "unit": unit,
                "area_id": sid.rsplit("-", 1)[0],
                "lat": basin.place[0],
                "lon": basin.place[1],
                "attrs": json.dumps(a),
            }
            for basin in basins
            for sid, signal, unit, a in basin.series
        ],
        schema_overrides={"lat": pl.Float64, "lon": pl.Float64},
    )
    return {
        "areas": pl.DataFrame([basin.area for basin in basins]),
        "series": series_frame,
        "observations": pl.concat(
            [
                o.select("series_id", "ts", "value", FILE, ROW)
                for basin in basins
                for o in basin.observations
            ]
        ),
    }


def _gauge_of(path: Path) -> str:
    return path.name.split("_", 1)[0]


def _end_of_day(year: pl.Expr, month: pl.Expr, day: pl.Expr, zone: str) -> pl.Expr:
    local = pl.datetime(year, month, day) + pl.duration(days=1)
    return (
        local.dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null")
        .dt.convert_time_zone("UTC")
        .cast(UTC_TS)
    )


def _fields(path: Path, lines: pl.Series, first_row: int, names: list[str]) -> pl.DataFrame:
    """Whitespace-split lines into text columns ``names``; a short line is an error."""
    parts = pl.DataFrame([lines]).select(
        pl.col("line").str.extract_all(r"\S+").alias("f"),
        pl.int_range(first_row, first_row + pl.len(), dtype=pl.Int64).alias(ROW),
    )
    parts = parts.filter(pl.col("f").list.len() > 0)
    short = parts.filter(pl.col("f").list.len() < len(names))
    if short.height:
        r = short.row(0, named=True)
        raise DataError(
            f"has {len(r['f'])} fields, expected {len(names)} ({' '.join(names)})",
            file=str(path),
            row=r[ROW],
            column=names[len(r["f"])],
        )
    return parts.select(ROW, *[pl.col("f").list.get(i).alias(n) for i, n in enumerate(names)])


def _ints(path: Path, frame: pl.DataFrame, names: Sequence[str]) -> pl.DataFrame:
    cols = {
        n: to_float(frame[n], file=path, column=n, rows=frame[ROW]).cast(pl.Int32) for n in names
    }
    return frame.with_columns(**cols)


def _streamflow(path: Path, gauge: str, zone: str, options: AdapterOptions) -> pl.DataFrame:
    names = ["gauge", "year", "month", "day", "flow_cfs", "flag"]
    raw = _fields(path, read_lines(path), 1, names)
    raw = _ints(path, raw, ["year", "month", "day"])
    flow = to_float(raw["flow_cfs"], file=path, column="flow_cfs", rows=raw[ROW])
    raw = raw.with_columns(flow=flow)
    missing = raw.filter(pl.col("flow").is_null() | (pl.col("flow") < 0))
    flags = raw["flag"].value_counts(sort=True).iter_rows()
    options.note(
        f"camels: {path.name}: {raw.height} days, {missing.height} missing (-999) dropped; "
        f"ft3/s -> m3/s; quality flags " + ", ".join(f"{f}: {n}" for f, n in flags)
    )
    return raw.filter(pl.col("flow") >= 0).select(
        ts=_end_of_day(pl.col("year"), pl.col("month"), pl.col("day"), zone),
        value=pl.col("flow") * FT3S_TO_M3S,
        **{FILE: pl.lit(str(path)), ROW: pl.col(ROW)},
    )


def _forcing_header(path: Path) -> dict:
    lines = read_lines(path).head(3).to_list()
    try:
        return {"lat": float(lines[0]), "area_km2": float(lines[2]) / 1e6}
    except (ValueError, IndexError):
        raise DataError(
            "does not start with the 3 CAMELS header lines (latitude, elevation, area m2)",
            file=str(path),
            row=1,
        ) from None


def _forcing(path: Path, zone: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    lines = read_lines(path)
    if lines.len() < FORCING_HEADER_LINES:
        raise DataError("is too short for a CAMELS forcing file", file=str(path))
    header = [h.split("(")[0].lower() for h in lines[FORCING_HEADER_LINES - 1].split()]
    require_columns(path, header, ["year", "mnth", "day", "prcp", "tmax", "tmin"], "forcing")
    # Rows are data rows after the column header, so row 1 is the file's 5th line.
    raw = _fields(path, lines.slice(FORCING_HEADER_LINES), 1, header)
    raw = _ints(path, raw, ["year", "mnth", "day"])
    values = {
        n: to_float(raw[n], file=path, column=n, rows=raw[ROW]) for n in ("prcp", "tmax", "tmin")
    }
    raw = raw.with_columns(**values)
    base = raw.select(
        ts=_end_of_day(pl.col("year"), pl.col("mnth"), pl.col("day"), zone),
        rain=pl.col("prcp"),
        temp=(pl.col("tmax") + pl.col("tmin")) / 2,
        **{FILE: pl.lit(str(path)), ROW: pl.col(ROW)},
    )
    rain = base.select("ts", value="rain", **{FILE: pl.col(FILE), ROW: pl.col(ROW)}).drop_nulls(
        "value"
    )
    temp = base.select("ts", value="temp", **{FILE: pl.col(FILE), ROW: pl.col(ROW)}).drop_nulls(
        "value"
    )
    return rain, temp


def _attributes(files: list[Path]) -> dict[str, dict]:
    """gauge -> name, huc, lat, lon, area from camels_name.txt and camels_topo.txt if given."""
    out: dict[str, dict] = {}
    for stem, cols in (
        ("camels_name", ["gauge_id", "huc_02", "gauge_name"]),
        ("camels_topo", ["gauge_id", "gauge_lat", "gauge_lon", "area_gages2"]),
    ):
        path = next((f for f in files if f.stem == stem), None)
        if path is None:
            continue
        raw = read_text_csv(path, separator=";", quote_char=None)
        raw = raw.rename({c: c.strip() for c in raw.columns})
        require_columns(path, raw.columns, cols, stem)
        rows = pl.Series(ROW, range(1, raw.height + 1), dtype=pl.Int64)
        numeric = [c for c in cols if c.startswith(("gauge_l", "area"))]
        frame = raw.select(cols).with_columns(
            pl.col(c).str.strip_chars() for c in cols if c not in numeric
        )
        frame = frame.with_columns(
            to_float(raw[c], file=path, column=c, rows=rows).alias(c) for c in numeric
        )
        for record in frame.iter_rows(named=True):
            out.setdefault(record.pop("gauge_id"), {}).update(record)
    return out
