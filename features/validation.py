"""Validation of input rows against the canonical schema, before anything is written.

Input comes from files people edit and from HTTP clients, so each problem says where it is
(file or request, 1-based data row, column), and up to ``MAX_PROBLEMS`` are reported at once so a
file can be fixed in one pass. ``validate`` either returns the whole frame conformed to the
canonical schema or raises one ``DataError``: never a partly valid frame, because the store is
all-or-nothing.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from features.errors import DataError
from features.schemas import (
    EVENT_SOURCES,
    FORECAST_MAX_LEAD_DAYS,
    KEYS,
    OPTIONAL_COLUMNS,
    SCHEMAS,
    SIGNALS,
    UTC_TS,
    conform,
)

MAX_PROBLEMS = 20
ROW = "_row"
# Input columns accepted beyond the canonical ones; they are used during validation, not stored.
EXTRA_COLUMNS: dict[str, tuple[str, ...]] = {"observations": ("unit",)}

_CLOCK = r"T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?"
_WITH_OFFSET = _CLOCK + r"(?:[+-]\d{2}(?::?\d{2})?|Z)$"
_AWARE_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M%z")
_NAIVE_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d")
_EXAMPLE_TS = "2025-07-01T08:00:00+08:00 or 2025-07-01T00:00:00Z"
_SIGNAL_NAME = r"^[a-z][a-z0-9_]*$"
# Units an input may use instead of the catalog unit: (given, catalog) -> value * scale + offset.
CONVERSIONS: dict[tuple[str, str], tuple[float, float]] = {
    ("in", "mm"): (25.4, 0.0),
    ("cm", "mm"): (10.0, 0.0),
    ("mm", "cm"): (0.1, 0.0),
    ("in", "cm"): (2.54, 0.0),
    ("m", "cm"): (100.0, 0.0),
    ("cm", "m"): (0.01, 0.0),
    ("ft", "m"): (0.3048, 0.0),
    ("mph", "km/h"): (1.609344, 0.0),
    ("m/s", "km/h"): (3.6, 0.0),
    ("degF", "degC"): (5 / 9, -160 / 9),
}
# Common spellings of those units (compared trimmed and in lower case) -> the one kept: a
# temperature in 'C' or '°C' is in degC, not refused.
UNIT_SPELLINGS: dict[str, str] = {
    **dict.fromkeys(("c", "°c", "℃", "deg c", "degc", "celsius", "degrees c"), "degC"),
    **dict.fromkeys(("f", "°f", "℉", "deg f", "degf", "fahrenheit", "degrees f"), "degF"),
    **dict.fromkeys(("millimetre", "millimetres", "millimeter", "millimeters"), "mm"),
    **dict.fromkeys(("centimetre", "centimetres", "centimeter", "centimeters"), "cm"),
    **dict.fromkeys(("metre", "metres", "meter", "meters"), "m"),
    **dict.fromkeys(("inch", "inches", '"'), "in"),
    **dict.fromkeys(("foot", "feet", "'"), "ft"),
    **dict.fromkeys(("kmh", "kph", "km/hr", "km per hour", "kilometres per hour"), "km/h"),
    **dict.fromkeys(("miles per hour", "mi/h"), "mph"),
    **dict.fromkeys(("mps", "m s-1", "metres per second"), "m/s"),
    **dict.fromkeys(("m³/s", "m^3/s", "cms", "cumecs"), "m3/s"),
    **dict.fromkeys(("vph", "veh/hr", "vehicles per hour"), "veh/h"),
    **dict.fromkeys(("counts", "calls", "tickets"), "count"),
}


def canonical_units(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with its ``unit`` column in the spelling the product keeps (as given where no
    other spelling is known)."""
    if "unit" not in frame.columns:
        return frame
    key = pl.col("unit").str.strip_chars().str.to_lowercase()
    known = key.replace_strict(UNIT_SPELLINGS, default=None, return_dtype=pl.String)
    return frame.with_columns(pl.coalesce(known, pl.col("unit")).alias("unit"))


@dataclass
class Problems:
    """Collects problems so that one error can list them all, ordered by row."""

    source: str
    found: list[tuple[int | None, str | None, str]] = field(default_factory=list)
    total: int = 0

    def add(self, message: str, *, row: int | None = None, column: str | None = None) -> None:
        self.total += 1
        if len(self.found) < MAX_PROBLEMS:
            self.found.append((row, column, message))

    def add_rows(self, bad: pl.DataFrame, column: str, describe: Callable[[dict], str]) -> None:
        """Record one problem per row of ``bad`` (which carries the row number column)."""
        for record in bad.head(MAX_PROBLEMS).iter_rows(named=True):
            self.add(describe(record), row=record[ROW], column=column)
        self.total += max(0, bad.height - MAX_PROBLEMS)

    def raise_if_any(self) -> None:
        if not self.found:
            return
        ordered = sorted(self.found, key=lambda p: -1 if p[0] is None else p[0])
        row, column, message = ordered[0]
        rest = [
            ", ".join([*([f"row {r}"] if r is not None else []), *([f"column {c!r}"] if c else [])])
            + f": {m}"
            for r, c, m in ordered[1:]
        ]
        if rest:
            message += f" ({self.total - 1} more: " + "; ".join(rest)
            message += "; and more not shown)" if self.total > len(self.found) else ")"
        raise DataError(message, file=self.source, row=row, column=column)


def validate(
    table: str,
    frame: pl.DataFrame,
    *,
    source: str,
    catalog: pl.DataFrame | None = None,
    tz: str | None = None,
    not_after: datetime | None = None,
) -> pl.DataFrame:
    """Check ``frame`` as input to ``table`` and return it conformed to the canonical schema.

    Args:
        table: a canonical table name.
        frame: the input, columns as text (CSV) or typed (Parquet, HTTP); row 1 is its first row.
        source: where the input came from (a file name or request), named in every error.
        catalog: the reference table rows point into: the series catalog for observations
            (store plus series ingested in the same call), the areas table for events. None means
            unknown: observations then skip the series, unit and range checks; events skip the
            area check.
        tz: IANA zone for timestamps written without an offset; without it they are refused.
        not_after: the latest plausible time of a reading, an event or a forecast's issue (the
            wall clock plus the allowed skew, for live data); later ones are refused.

    Exact repeated rows are dropped (the caller counts them as the height difference); the
    same key with different values, and every other problem, raises one ``DataError``.
    """
    if table not in SCHEMAS:
        raise DataError(f"unknown table {table!r}; known tables: {', '.join(SCHEMAS)}", file=source)
    zone = _check_zone(tz, source)
    problems = Problems(source)
    _check_columns(table, frame, problems)
    problems.raise_if_any()
    rows = pl.Series(ROW, range(1, frame.height + 1), dtype=pl.Int64)
    typed = [rows]
    for name in frame.columns:
        dtype = SCHEMAS[table].get(name, pl.String())
        column = _blank_to_null(frame[name])
        if name in SCHEMAS[table] and name not in OPTIONAL_COLUMNS[table]:
            missing = pl.DataFrame([rows]).filter(column.is_null())
            problems.add_rows(missing, name, lambda r: "is empty, but the column is required")
        if dtype == UTC_TS:
            column = _to_utc(column, rows, zone, problems)
        elif dtype == pl.Float64():
            column = _to_float(column, rows, problems)
        else:
            column = column.cast(pl.String)
        typed.append(column)
    typed_frame = pl.DataFrame(typed)
    if not_after is not None:
        _check_not_after(table, typed_frame, not_after, problems)
    out = _TABLE_CHECKS[table](typed_frame, catalog, problems)
    out = out.select(ROW, *[c for c in SCHEMAS[table] if c in out.columns])
    out = _drop_repeats(table, out, problems)
    problems.raise_if_any()
    return conform(table, out)


def _check_zone(tz: str | None, source: str) -> str | None:
    if tz is None:
        return None
    try:
        pl.Series([None], dtype=pl.Datetime("us")).dt.replace_time_zone(tz)
    except pl.exceptions.PolarsError:
        raise DataError(
            f"time zone {tz!r} is not an IANA time zone name; use one like Asia/Shanghai or UTC",
            file=source,
        ) from None
    return tz


def _check_columns(table: str, frame: pl.DataFrame, problems: Problems) -> None:
    optional = sorted(OPTIONAL_COLUMNS[table]) + list(EXTRA_COLUMNS.get(table, ()))
    required = [c for c in SCHEMAS[table] if c not in OPTIONAL_COLUMNS[table]]
    expected = f"expected columns {', '.join(required)}; optional {', '.join(optional)}"
    for name in required:
        if name not in frame.columns:
            problems.add(
                f"header lacks required column {name!r} of {table}; {expected}", column=name
            )
    for name in frame.columns:
        if name not in required and name not in optional:
            problems.add(f"header has unknown column {name!r} for {table}; {expected}", column=name)


def _blank_to_null(column: pl.Series) -> pl.Series:
    if column.dtype != pl.String:
        return column
    return pl.select(
        pl.when(column.str.strip_chars() == "").then(None).otherwise(column).alias(column.name)
    ).to_series()


def _to_float(column: pl.Series, rows: pl.Series, problems: Problems) -> pl.Series:
    if column.dtype.is_numeric() or column.dtype == pl.Null:
        return column.cast(pl.Float64)
    if column.dtype != pl.String:
        problems.add(f"has type {column.dtype}, expected numbers", column=column.name)
        return pl.Series(column.name, [None] * column.len(), dtype=pl.Float64)
    parsed = column.str.strip_chars().cast(pl.Float64, strict=False)
    bad = pl.DataFrame([rows, column]).filter(column.is_not_null() & parsed.is_null())
    problems.add_rows(bad, column.name, lambda r: f"{_clip(r[column.name])!r} is not a number")
    return parsed


def _to_utc(column: pl.Series, rows: pl.Series, zone: str | None, problems: Problems) -> pl.Series:
    """Parse timestamps to UTC; text must carry an offset unless a zone is given for naive ones."""
    name = column.name
    if column.dtype == pl.Null:
        return column.cast(UTC_TS)
    if isinstance(column.dtype, pl.Datetime) and column.dtype.time_zone is not None:
        return column.dt.convert_time_zone("UTC").dt.cast_time_unit("us")
    if isinstance(column.dtype, pl.Datetime | pl.Date):
        text, naive = column.cast(pl.String), column.cast(pl.Datetime("us"))
        aware = pl.Series(name, [None] * column.len(), dtype=UTC_TS)
    elif column.dtype == pl.String:
        text = column.str.strip_chars().str.replace(r"^(\d{4}-\d{2}-\d{2}) ", "${1}T")
        aware_text = text.str.replace(r"Z$", "+00:00").str.replace(r"([+-]\d{2})$", "${1}:00")
        has_offset = text.str.contains(_WITH_OFFSET).fill_null(False)
        aware = _first_parse(aware_text, _AWARE_FORMATS, "UTC", has_offset)
        naive = _first_parse(text, _NAIVE_FORMATS, None, ~has_offset)
    else:
        problems.add(f"has type {column.dtype}, expected timestamps", column=name)
        return pl.Series(name, [None] * column.len(), dtype=UTC_TS)
    local = naive.dt.replace_time_zone(zone or "UTC", ambiguous="earliest", non_existent="null")
    checks = pl.DataFrame([rows, column.cast(pl.String).alias("text")]).with_columns(
        aware=aware, naive=naive, local=local
    )
    unparsed = checks.filter(
        pl.col("text").is_not_null()
        & pl.all_horizontal(pl.col("aware").is_null(), pl.col("naive").is_null())
    )
    problems.add_rows(
        unparsed, name, lambda r: f"{_clip(r['text'])!r} is not a timestamp; write {_EXAMPLE_TS}"
    )
    if zone is None:
        hint = f"write it with an offset ({_EXAMPLE_TS}) or pass --tz ZONE (such as Asia/Shanghai)"
        naive_rows = checks.filter(pl.col("naive").is_not_null())
        problems.add_rows(
            naive_rows, name, lambda r: f"{_clip(r['text'])!r} has no time zone; {hint}"
        )
        return aware
    gap = checks.filter(pl.col("naive").is_not_null() & pl.col("local").is_null())
    problems.add_rows(
        gap, name, lambda r: f"{_clip(r['text'])!r} does not exist in time zone {zone}"
    )
    return aware.fill_null(local.dt.convert_time_zone("UTC"))


def _first_parse(
    text: pl.Series, formats: tuple[str, ...], zone: str | None, where: pl.Series
) -> pl.Series:
    parsed = [
        pl.lit(text).str.to_datetime(f, strict=False, time_unit="us", time_zone=zone)
        for f in formats
    ]
    return pl.select(pl.when(where).then(pl.coalesce(parsed))).to_series().alias(text.name)


def _drop_repeats(table: str, frame: pl.DataFrame, problems: Problems) -> pl.DataFrame:
    """Drop exact repeats of a row; report the same key with different values as a conflict."""
    key = list(KEYS[table])
    values = [c for c in frame.columns if c != ROW]
    unique = frame.unique(subset=values, keep="first", maintain_order=True)
    clash = unique.drop_nulls(key).filter(pl.len().over(key) > 1).sort([*key, ROW])
    previous: dict[str, Any] | None = None
    for record in clash.iter_rows(named=True):
        if previous is not None and all(previous[k] == record[k] for k in key):
            differs = next(c for c in values if previous[c] != record[c])
            shown = ", ".join(f"{k}={record[k]!s}" for k in key)
            problems.add(
                f"rows {previous[ROW]} and {record[ROW]} repeat the key ({shown}) with "
                f"different {differs} ({previous[differs]!r} and {record[differs]!r})",
                row=record[ROW],
                column=differs,
            )
            if len(problems.found) >= MAX_PROBLEMS:
                break
        previous = record
    return unique


def _signals() -> pl.DataFrame:
    return pl.DataFrame(
        [(name, spec.unit, spec.low, spec.high) for name, spec in SIGNALS.items()],
        schema=["signal", "_unit", "_low", "_high"],
        orient="row",
    )


def _check_observations(
    frame: pl.DataFrame, catalog: pl.DataFrame | None, problems: Problems
) -> pl.DataFrame:
    """Series known, unit convertible to the catalog unit, value finite and within range."""
    frame = canonical_units(frame)
    finite = pl.col("value").is_finite()
    bad = frame.filter(pl.col("value").is_not_null() & ~finite)
    problems.add_rows(bad, "value", lambda r: f"value {r['value']} is not a finite number")
    _check_order(frame, "ts", "received_at", problems)
    if catalog is None:
        if "unit" in frame.columns and frame["unit"].null_count() < frame.height:
            problems.add("units cannot be checked without the series catalog", column="unit")
        return frame
    series = catalog.select("series_id", "signal", pl.col("unit").alias("_catalog_unit"))
    joined = frame.join(
        series.unique("series_id", keep="last"), on="series_id", how="left", maintain_order="left"
    ).join(_signals(), on="signal", how="left", maintain_order="left")
    unknown = joined.filter(pl.col("series_id").is_not_null() & pl.col("signal").is_null())
    problems.add_rows(
        unknown,
        "series_id",
        lambda r: (
            f"series {_clip(r['series_id'])!r} is not in the series catalog; "
            "ingest its series row first or in the same call"
        ),
    )
    if "unit" in frame.columns:
        joined = _convert_units(joined, problems)
    in_range = (
        pl.col("value").is_between(pl.col("_low"), pl.col("_high")) | pl.col("_low").is_null()
    )
    outside = joined.filter(finite & ~in_range)
    problems.add_rows(
        outside,
        "value",
        lambda r: (
            f"value {r['value']:g} {r['_catalog_unit']} is outside the range of "
            f"{r['signal']} ({r['_low']:g} to {r['_high']:g} {r['_unit']})"
        ),
    )
    return joined.select(frame.columns)


def _convert_units(joined: pl.DataFrame, problems: Problems) -> pl.DataFrame:
    rules = pl.DataFrame(
        [(a, b, scale, offset) for (a, b), (scale, offset) in CONVERSIONS.items()],
        schema=["unit", "_catalog_unit", "_scale", "_offset"],
        orient="row",
    )
    same = pl.col("unit").is_null() | (pl.col("unit") == pl.col("_catalog_unit"))
    joined = joined.join(rules, on=["unit", "_catalog_unit"], how="left", maintain_order="left")
    joined = joined.with_columns(
        _scale=pl.when(same).then(1.0).otherwise("_scale"),
        _offset=pl.when(same).then(0.0).otherwise("_offset"),
    )
    wrong = joined.filter(pl.col("signal").is_not_null() & pl.col("_scale").is_null())

    def describe(r: dict) -> str:
        unit = r["_catalog_unit"]
        allowed = [unit, *sorted(a for a, b in CONVERSIONS if b == unit)]
        return (
            f"unit {r['unit']!r} does not fit series {r['series_id']!r} ({r['signal']}, "
            f"stored in {unit}); allowed units: {', '.join(allowed)}"
        )

    problems.add_rows(wrong, "unit", describe)
    return joined.with_columns(value=pl.col("value") * pl.col("_scale") + pl.col("_offset"))


def _check_series(
    frame: pl.DataFrame, catalog: pl.DataFrame | None, problems: Problems
) -> pl.DataFrame:
    """A known signal keeps its unit; a new signal needs a plain name (its unit is required)."""
    frame = canonical_units(frame)
    joined = frame.join(_signals(), on="signal", how="left", maintain_order="left")
    wrong = joined.filter(pl.col("_unit").is_not_null() & (pl.col("unit") != pl.col("_unit")))
    problems.add_rows(
        wrong,
        "unit",
        lambda r: f"unit {r['unit']!r} does not match {r['signal']}, kept in {r['_unit']}",
    )
    named = pl.col("signal").str.contains(_SIGNAL_NAME)
    odd = joined.filter(pl.col("signal").is_not_null() & pl.col("_unit").is_null() & ~named)
    problems.add_rows(
        odd,
        "signal",
        lambda r: (
            f"signal {r['signal']!r} is neither known ({', '.join(SIGNALS)}) nor a valid "
            "name for a new one (lowercase letters, digits and _, declared with its unit)"
        ),
    )
    _check_place(frame, problems)
    return frame


def _check_events(
    frame: pl.DataFrame, catalog: pl.DataFrame | None, problems: Problems
) -> pl.DataFrame:
    """A known source; coordinates, attrs, and the area when an areas table is known."""
    _check_place(frame, problems)
    if "source" in frame.columns:
        odd = frame.filter(
            pl.col("source").is_not_null() & ~pl.col("source").is_in(list(EVENT_SOURCES))
        )
        problems.add_rows(
            odd,
            "source",
            lambda r: (
                f"source {_clip(r['source'])!r} is not a known event feed; known: "
                f"{', '.join(EVENT_SOURCES)}"
            ),
        )
    _check_area(frame, catalog, problems)
    return frame


def _check_forecasts(
    frame: pl.DataFrame, catalog: pl.DataFrame | None, problems: Problems
) -> pl.DataFrame:
    """Issued before valid and not too far ahead; a known variable within its range; a known
    area when an areas table is given (``catalog``)."""
    _check_order(frame, "issued_at", "valid_at", problems)
    if "issued_at" in frame.columns and "valid_at" in frame.columns:
        lead = pl.col("valid_at") - pl.col("issued_at")
        far = frame.filter(lead > timedelta(days=FORECAST_MAX_LEAD_DAYS))
        problems.add_rows(
            far,
            "valid_at",
            lambda r: (
                f"valid_at {r['valid_at']} is more than {FORECAST_MAX_LEAD_DAYS} days after "
                f"issued_at {r['issued_at']}"
            ),
        )
    if "variable" not in frame.columns:
        return frame
    joined = frame.join(
        _signals(), left_on="variable", right_on="signal", how="left", maintain_order="left"
    )
    unknown = joined.filter(pl.col("variable").is_not_null() & pl.col("_unit").is_null())
    problems.add_rows(
        unknown,
        "variable",
        lambda r: f"variable {_clip(r['variable'])!r} is not known; known: {', '.join(SIGNALS)}",
    )
    if "value" in frame.columns:
        finite = pl.col("value").is_finite()
        problems.add_rows(
            joined.filter(pl.col("value").is_not_null() & ~finite),
            "value",
            lambda r: f"value {r['value']} is not a finite number",
        )
        outside = joined.filter(
            finite & pl.col("_low").is_not_null() & ~pl.col("value").is_between("_low", "_high")
        )
        problems.add_rows(
            outside,
            "value",
            lambda r: (
                f"value {r['value']:g} is outside the range of {r['variable']} "
                f"({r['_low']:g} to {r['_high']:g} {r['_unit']})"
            ),
        )
    _check_area(frame, catalog, problems)
    return frame


def _check_area(frame: pl.DataFrame, catalog: pl.DataFrame | None, problems: Problems) -> None:
    if catalog is not None and catalog.height and "area_id" in frame.columns:
        known = pl.col("area_id").is_in(catalog["area_id"].implode())
        unknown = frame.filter(pl.col("area_id").is_not_null() & ~known)
        problems.add_rows(
            unknown, "area_id", lambda r: f"area {_clip(r['area_id'])!r} is not known"
        )


def _check_not_after(
    table: str, frame: pl.DataFrame, not_after: datetime, problems: Problems
) -> None:
    """Readings, events and forecast issues must not lie in the future (beyond the skew)."""
    limit = f"{not_after:%Y-%m-%d %H:%M:%S} UTC"

    def describe(column: str, record: dict[str, Any]) -> str:
        return (
            f"{column} {record[column]} is in the future (later than {limit}, the clock plus "
            "the allowed skew); check the sender's clock and time zone"
        )

    for column in _MUST_BE_PAST.get(table, ()):
        if column in frame.columns:
            late = frame.filter(pl.col(column) > not_after)
            problems.add_rows(late, column, functools.partial(describe, column))


_MUST_BE_PAST: dict[str, tuple[str, ...]] = {
    "observations": ("ts", "received_at"),
    "events": ("ts",),
    "weather_forecasts": ("issued_at",),
}


def _clip(text: object, limit: int = 40) -> str:
    """A value for an error message, cut short: errors name the input, never echo it whole."""
    shown = str(text)
    return shown if len(shown) <= limit else shown[:limit] + "..."


def _check_areas(
    frame: pl.DataFrame, catalog: pl.DataFrame | None, problems: Problems
) -> pl.DataFrame:
    _check_json(frame, "geometry", problems)
    return frame


def _outside(name: str, limit: float, record: dict[str, Any]) -> str:
    return f"{name} {record[name]} is outside -{limit:g}..{limit:g}"


def _check_place(frame: pl.DataFrame, problems: Problems) -> None:
    for name, limit in (("lat", 90.0), ("lon", 180.0)):
        if name in frame.columns:
            bad = frame.filter(~pl.col(name).is_between(-limit, limit))
            problems.add_rows(bad, name, functools.partial(_outside, name, limit))
    _check_json(frame, "attrs", problems)


def _check_order(frame: pl.DataFrame, first: str, later: str, problems: Problems) -> None:
    if first in frame.columns and later in frame.columns:
        bad = frame.filter(pl.col(later) < pl.col(first))
        problems.add_rows(bad, later, lambda r: f"{later} {r[later]} is before {first} {r[first]}")


def _check_json(frame: pl.DataFrame, column: str, problems: Problems) -> None:
    """JSON text must hold an object; each distinct text is parsed once."""
    if column not in frame.columns:
        return
    why = {t: _json_problem(t) for t in frame[column].drop_nulls().unique().to_list()}
    bad = [t for t, reason in why.items() if reason]
    rows = frame.filter(pl.col(column).is_in(pl.Series(bad, dtype=pl.String).implode()))
    problems.add_rows(rows, column, lambda r: f"is not a JSON object: {why[r[column]]}")


def _json_problem(text: str) -> str | None:
    try:
        value = json.loads(text)
    except ValueError as err:
        return f"{getattr(err, 'msg', err)} at character {getattr(err, 'pos', 0) + 1}"
    return None if isinstance(value, dict) else f"it holds a {type(value).__name__}"


_TABLE_CHECKS = {
    "areas": _check_areas,
    "series": _check_series,
    "observations": _check_observations,
    "events": _check_events,
    "weather_forecasts": _check_forecasts,
}
