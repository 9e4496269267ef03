"""Hotline / 311 call records, one row per request: category, time, district.

Known layouts (detected from the header; column names compared case-insensitively):

- ``la311``: City of Los Angeles MyLA311 service requests (both the 2017 ``SRNumber,
  CreatedDate, RequestType, ... CD`` export and the 2020 lower-case one). Times are local,
  ``12/31/2017 11:59:58 PM`` or ``1/1/20 0:05``; zone America/Los_Angeles. Area: the council
  district ``CD`` -> ``la-cd-<n>`` under ``la``.
- ``nyc-council``: NYC Council constituent cases (CouncilStat: ``unique_key, opendate,
  complaint_type, borough, ...``), CSV or Parquet. ``opendate`` is a date only: the event is
  stamped at the END of that local day (next midnight, America/New_York), like daily data, and
  ``attrs.date_only`` says so. Area: the borough -> ``nyc-<borough>`` under ``nyc``. A case
  repeated with fewer fields filled (the export has such copies) is dropped for the fuller one.

Output: events with ``source`` ``hotline``, ``category`` the request type in snake_case,
``event_id`` ``<layout>:<the record's own id>``, lat/lon where present (0 or blank -> null), and
``attrs`` with the original type and a few useful fields. ``--tz`` overrides the layout's zone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from features.adapters.common import (
    FILE,
    ROW,
    AdapterOptions,
    check_zone,
    expand,
    localize,
    read_text_csv,
    snake_case,
    to_datetime,
    to_float,
)
from features.errors import DataError


@dataclass(frozen=True)
class Layout:
    name: str
    zone: str
    id: str
    time: str
    category: str
    district: str
    time_formats: tuple[str, ...]
    attrs: tuple[str, ...]
    lat: str | None = None
    lon: str | None = None
    date_only: bool = False

    @property
    def required(self) -> list[str]:
        return [self.id, self.time, self.category, self.district]


LAYOUTS = (
    Layout(
        "la311",
        "America/Los_Angeles",
        id="srnumber",
        time="createddate",
        category="requesttype",
        district="cd",
        time_formats=(
            "%m/%d/%Y %I:%M:%S %p",
            "%m/%d/%y %H:%M",
            "%m/%d/%Y %H:%M",
            "%Y-%m-%dT%H:%M:%S",
        ),
        attrs=("status", "requestsource", "owner", "zipcode", "ncname", "policeprecinct"),
        lat="latitude",
        lon="longitude",
    ),
    Layout(
        "nyc-council",
        "America/New_York",
        id="unique_key",
        time="opendate",
        category="complaint_type",
        district="borough",
        time_formats=("%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%m/%d/%Y"),
        attrs=("descriptor", "council_dist", "community_board", "zip", "city", "account"),
        date_only=True,
    ),
)
PARENTS = {"la311": ("la", "City of Los Angeles"), "nyc-council": ("nyc", "New York City")}


def adapt(paths: Sequence[Path], options: AdapterOptions) -> dict[str, pl.DataFrame]:
    files = expand(paths, ("*.csv", "*.parquet"))
    paths_text = [str(p) for p in paths]
    if not files:
        raise DataError("no .csv or .parquet files among the inputs", file=", ".join(paths_text))
    events, areas = [], []
    for path in files:
        raw = _read(path)
        layout = _detect(path, raw.columns)
        zone = check_zone(options.tz or layout.zone)
        ev, ar = _events(path, raw, layout, zone, options)
        events.append(ev)
        areas.append(ar)
    events_frame = pl.concat(events, how="diagonal_relaxed")
    return {
        "areas": pl.concat(areas).unique("area_id", keep="first", maintain_order=True),
        "events": events_frame,
    }


def _read(path: Path) -> pl.DataFrame:
    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            frame = pl.read_parquet(path)
        except (OSError, pl.exceptions.PolarsError) as err:
            raise DataError(f"cannot be read: {str(err).splitlines()[0]}", file=str(path)) from None
    else:
        frame = read_text_csv(path)
    return frame.rename({c: c.strip().lower() for c in frame.columns})


def _detect(path: Path, columns: list[str]) -> Layout:
    for layout in LAYOUTS:
        if all(c in columns for c in layout.required):
            return layout
    closest = min(LAYOUTS, key=lambda lay: sum(c not in columns for c in lay.required))
    missing = [c for c in closest.required if c not in columns]
    known = "; ".join(f"{lay.name}: {', '.join(lay.required)}" for lay in LAYOUTS)
    raise DataError(
        f"is no known call-record layout: closest is {closest.name}, which lacks "
        f"{', '.join(missing)} (known layouts, columns any case: {known})",
        file=str(path),
        column=missing[0],
    )


def _text(frame: pl.DataFrame, column: str) -> pl.Series:
    values = frame[column]
    if values.dtype != pl.String:
        values = values.cast(pl.String)
    return values.str.strip_chars()


def _events(
    path: Path, raw: pl.DataFrame, layout: Layout, zone: str, options: AdapterOptions
) -> tuple[pl.DataFrame, pl.DataFrame]:
    rows = pl.Series(ROW, range(1, raw.height + 1), dtype=pl.Int64)
    ids = _text(raw, layout.id)
    blank = ids.is_null() | (ids == "")
    if blank.any():
        raise DataError(
            "is empty; every record needs its id",
            file=str(path),
            row=int(blank.arg_true()[0]) + 1,
            column=layout.id,
        )
    time = raw[layout.time]
    if isinstance(time.dtype, pl.Datetime | pl.Date):
        naive = time.cast(pl.Datetime("us")).dt.replace_time_zone(None)
    else:
        naive = to_datetime(time, layout.time_formats, file=path, column=layout.time, rows=rows)
    if layout.date_only:
        naive = naive.dt.truncate("1d").dt.offset_by("1d")
    ts = localize(naive, zone, file=path, column=layout.time, rows=rows)
    district = _text(raw, layout.district)
    parent, parent_name = PARENTS[layout.name]
    if layout.name == "la311":
        district = district.str.replace(r"\.0$", "")
        area = pl.when(district.is_not_null() & (district != "")).then(f"{parent}-cd-" + district)
        area_name = "Los Angeles Council District " + district
    else:
        area = pl.when(district.is_not_null() & (district != "")).then(
            f"{parent}-" + district.str.to_lowercase().str.replace_all(r"[^a-z0-9]+", "-")
        )
        area_name = district
    extras = [c for c in layout.attrs if c in raw.columns]
    frame = pl.DataFrame([rows]).with_columns(
        event_id=f"{layout.name}:" + ids,
        ts=ts,
        source=pl.lit("hotline"),
        category=snake_case(pl.lit(_text(raw, layout.category))),
        area_id=area,
        _area_name=area_name,
        attrs=pl.struct(
            pl.lit(_text(raw, layout.category)).alias("type"),
            *[pl.lit(_text(raw, c)).alias(c) for c in extras],
            *([pl.lit(True).alias("date_only")] if layout.date_only else []),
        ),
    )
    if layout.lat and layout.lat in raw.columns and layout.lon in raw.columns:
        lat = to_float(raw[layout.lat], file=path, column=layout.lat, rows=rows)
        lon = to_float(raw[layout.lon], file=path, column=layout.lon, rows=rows)
        nowhere = (lat == 0) & (lon == 0)
        frame = frame.with_columns(lat=pl.when(~nowhere).then(lat), lon=pl.when(~nowhere).then(lon))
    # Copies of a record with fewer fields filled: keep the fullest, report how many went.
    filled = pl.sum_horizontal(pl.col(c).is_not_null() for c in raw.columns)
    fullness = raw.select(filled.alias("_filled"))["_filled"]
    before = frame.height
    copies = ""
    frame = (
        frame.with_columns(_filled=fullness)
        .sort(["event_id", "_filled", ROW], descending=[False, True, False])
        .unique("event_id", keep="first")
        .sort(ROW)
        .drop("_filled")
    )
    if before > frame.height:
        copies = f", {before - frame.height} less complete copies of a record dropped"
    options.note(
        f"calls311: {path.name}: layout {layout.name}, times {zone}"
        + (" (dates only: stamped at the end of the local day)" if layout.date_only else "")
        + f"; {frame.height} records"
        + copies
        + f", {frame['area_id'].null_count()} without {layout.district}"
    )
    areas = (
        frame.filter(pl.col("area_id").is_not_null())
        .select("area_id", name="_area_name")
        .unique("area_id", keep="first")
        .sort("area_id")
        .with_columns(parent_id=pl.lit(parent))
    )
    top = pl.DataFrame({"area_id": [parent], "name": [parent_name], "parent_id": [None]})
    areas = pl.concat([top, areas], how="vertical_relaxed")
    frame = frame.with_columns(
        attrs=pl.col("attrs").struct.json_encode(), **{FILE: pl.lit(str(path))}
    ).drop("_area_name")
    return frame, areas
