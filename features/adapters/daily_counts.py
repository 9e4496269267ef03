"""Daily count tables: how many requests (complaints, 311 calls) came in per local day.

Layout: a CSV with a date column (``date``, ``year_month_day``, ``day`` or ``ds``;
``YYYY-MM-DD``), a count column (``count``, ``n`` or ``value``; or, when the table has just
one other column, that one: the NYC 311 export names it ``unique_key``, the number of unique
request keys), and any further columns as groups (``borough``, ``complaint_type``): one series
per combination of group values.

Output: ``hotline_count`` series (unit ``count``) with one observation per day, stamped at the
END of the local day (next midnight in the zone, converted to UTC), like CAMELS days and NYC
Council cases: a day's count is known once the day is over. The zone is the file's from
``KNOWN_FILES`` or ``--tz``; a file in neither is refused (a date has no zone of its own).

Rules, each reported in the notes: group values that differ only in case or punctuation
(``HOUSING AND BUILDINGS`` and ``Housing and Buildings`` in the NYC Council table) are one
series and their counts on a day add up, as the ``calls311`` adapter's snake_case categories
do; a count table lists the days that had requests, so a day missing between the
file's first and last date counts zero for every series, or with ``--absent-days missing`` (a
series of open days only: no calls on a closed day is no count of zero) is left out; either way
the number of such series-days is noted; counts must be whole and not negative, otherwise the
file is refused at the row. Two files giving the same series are refused (the NYC
street-flooding exports disagree on 54 days of 2019-2020: pass one of them).

``KNOWN_FILES`` names the public files in ``../shared/data``: their series prefix, zone, area
and category, and which group column is the area (``borough`` -> ``nyc-<borough>``, the areas
of the ``calls311`` NYC Council layout) and which the category.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
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
    slug,
    snake_case,
    to_datetime,
    to_float,
)
from features.errors import DataError
from features.grid import time_span

DATE_COLUMNS = ("date", "year_month_day", "day", "ds")
COUNT_COLUMNS = ("count", "n", "value")
SIGNAL, UNIT = "hotline_count", "count"


@dataclass(frozen=True)
class KnownFile:
    prefix: str
    zone: str
    area: str | None = None  # every series' area, unless ``area_column`` gives it
    category: str | None = None  # every series' category, unless ``category_column`` gives it
    area_column: str | None = None
    area_prefix: str = ""
    category_column: str | None = None
    parent: tuple[str, str] | None = None  # the areas' parent (id, name)


_NYC = ("nyc", "New York City")
_STREET_FLOODING = KnownFile(
    "nyc311-street-flooding", "America/New_York", area="nyc", category="street_flooding"
)
KNOWN_FILES = {
    "flooding_311_daily_resample_D": _STREET_FLOODING,
    "daily-street-flooding-counts": _STREET_FLOODING,
    "daily_counts_by_borough_type": KnownFile(
        "nyc-council",
        "America/New_York",
        area_column="borough",
        area_prefix="nyc-",
        category_column="complaint_type",
        parent=_NYC,
    ),
}


def adapt(paths: Sequence[Path], options: AdapterOptions) -> dict[str, pl.DataFrame]:
    files = expand(paths, ("*.csv",))
    if not files:
        raise DataError("no .csv files among the inputs", file=", ".join(map(str, paths)))
    observations, catalogs, areas = [], [], []
    seen: dict[str, Path] = {}
    for path in files:
        known = KNOWN_FILES.get(path.stem) or KnownFile(slug(path.stem), "")
        zone = options.tz or known.zone
        if not zone:
            raise DataError(
                "is not a known count table, so the zone of its dates is unknown; pass --tz",
                file=str(path),
            )
        check_zone(zone)
        obs, catalog, area = _read(path, known, zone, options)
        for sid in catalog["series_id"].to_list():
            if sid in seen:
                raise DataError(
                    f"gives series {sid!r} again, after {seen[sid]}; pass one file per series",
                    file=str(path),
                )
            seen[sid] = path
        observations.append(obs)
        catalogs.append(catalog)
        areas.append(area)
    area_frame = pl.concat(areas, how="diagonal_relaxed").unique("area_id", maintain_order=True)
    return {
        "areas": area_frame,
        "series": pl.concat(catalogs, how="diagonal_relaxed"),
        "observations": pl.concat(observations),
    }


def _layout(path: Path, columns: list[str]) -> tuple[str, str, list[str]]:
    date = next((c for c in DATE_COLUMNS if c in columns), None)
    if date is None:
        raise DataError(
            f"has no date column (one of {', '.join(DATE_COLUMNS)}; found {', '.join(columns)})",
            file=str(path),
        )
    rest = [c for c in columns if c != date]
    count = next((c for c in COUNT_COLUMNS if c in rest), None)
    if count is None and len(rest) == 1:
        count = rest[0]
    if count is None:
        raise DataError(
            f"has no count column (one of {', '.join(COUNT_COLUMNS)}, or a single column beside "
            f"the date; found {', '.join(rest) or 'none'})",
            file=str(path),
        )
    return date, count, [c for c in rest if c != count]


def _read(
    path: Path, known: KnownFile, zone: str, options: AdapterOptions
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    raw = read_text_csv(path)
    raw = raw.rename({c: c.strip().lower() for c in raw.columns})
    date_col, count_col, groups = _layout(path, raw.columns)
    rows = pl.Series(ROW, range(1, raw.height + 1), dtype=pl.Int64)
    day = to_datetime(raw[date_col], ("%Y-%m-%d",), file=path, column=date_col, rows=rows)
    count = to_float(raw[count_col], file=path, column=count_col, rows=rows)
    wrong = count.is_null() | (count < 0) | (count != count.floor())
    if wrong.any():
        i = int(wrong.arg_true()[0])
        raise DataError(
            f"{raw[count_col][i]!r} is not a count (a whole number, 0 or more)",
            file=str(path),
            row=int(rows[i]),
            column=count_col,
        )
    key = pl.concat_str(
        [pl.lit(known.prefix), *[pl.lit("-") + _slug_expr(pl.col(g)) for g in groups]]
    )
    frame = (
        pl.DataFrame([rows, day.alias("day"), count.alias("value")])
        .hstack(raw.select([pl.col(g).str.strip_chars().fill_null("unknown") for g in groups]))
        .with_columns(key.alias("series_id"))
    )
    frame = _merge_spellings(frame, groups, path, options)
    first, last = time_span(frame["day"])
    days = pl.datetime_range(first, last, timedelta(days=1), time_unit="us", eager=True)
    catalog = frame.unique("series_id", keep="first", maintain_order=True).sort("series_id")
    grid = catalog.select("series_id").join(pl.DataFrame({"day": days}), how="cross")
    full = grid.join(
        frame.select("series_id", "day", "value", ROW), on=["series_id", "day"], how="left"
    )
    absent = full["value"].null_count()
    if options.absent_days == "missing":
        full = full.filter(pl.col("value").is_not_null())
        said = f"{absent} absent series-days left missing (--absent-days missing)"
    else:
        said = f"{absent} absent series-days counted zero (--absent-days missing leaves them out)"
    end = localize((full["day"] + timedelta(days=1)).alias("day"), zone, file=path, column=date_col)
    observations = full.select(
        "series_id",
        ts=end,
        value=pl.col("value").fill_null(0.0),
        **{FILE: pl.lit(str(path)), ROW: pl.col(ROW), COLUMN: pl.lit(count_col)},
    )
    options.note(
        f"daily-counts: {path.name}: {catalog.height} series ({', '.join(groups) or 'no groups'}) "
        f"from {first:%Y-%m-%d} to {last:%Y-%m-%d}, local days in {zone} stamped at their end; "
        f"count column {count_col!r}; {said}"
    )
    return observations, _series(catalog, known, groups, path), _areas(catalog, known)


def _merge_spellings(
    frame: pl.DataFrame, groups: list[str], path: Path, options: AdapterOptions
) -> pl.DataFrame:
    """Group values that differ only in case or punctuation name one series: counts add up."""
    if not groups:
        return frame
    spellings = (
        frame.group_by("series_id")
        .agg([pl.col(g).unique().sort() for g in groups])
        .filter(pl.any_horizontal(pl.col(g).list.len() > 1 for g in groups))
    )
    if spellings.is_empty():
        return frame
    merged = frame.group_by("series_id", "day", maintain_order=True).agg(
        pl.col("value").sum(), pl.col(ROW).first(), *[pl.col(g).first() for g in groups]
    )
    shown = sorted({" / ".join(v) for g in groups for v in spellings[g].to_list() if len(v) > 1})
    options.note(
        f"daily-counts: {path.name}: {', '.join(groups)} values that differ only in case or "
        f"punctuation are one series ({'; '.join(shown)}): {frame.height - merged.height} "
        "series-days held two spellings, their counts added"
    )
    return merged


def _slug_expr(expr: pl.Expr) -> pl.Expr:
    return expr.str.to_lowercase().str.replace_all(r"[^a-z0-9]+", "-").str.strip_chars("-")


def _series(catalog: pl.DataFrame, known: KnownFile, groups: list[str], path: Path) -> pl.DataFrame:
    area = (
        pl.lit(known.area_prefix) + _slug_expr(pl.col(known.area_column))
        if known.area_column
        else pl.lit(known.area, dtype=pl.String)
    )
    category = (
        snake_case(pl.col(known.category_column))
        if known.category_column
        else pl.lit(known.category, dtype=pl.String)
    )
    attrs = [
        json.dumps(
            {
                "source_file": path.name,
                "category": c,
                "groups": {g: r[g] for g in groups},
                "stamp": "end of local day",
            }
        )
        for r, c in zip(
            catalog.iter_rows(named=True),
            catalog.with_columns(category.alias("c"))["c"].to_list(),
            strict=True,
        )
    ]
    return catalog.select(
        "series_id",
        signal=pl.lit(SIGNAL),
        unit=pl.lit(UNIT),
        area_id=area,
        attrs=pl.Series(attrs, dtype=pl.String),
    )


def _areas(catalog: pl.DataFrame, known: KnownFile) -> pl.DataFrame:
    parent_id, parent_name = known.parent or (None, None)
    if known.area_column:
        names = catalog.select(
            area_id=pl.lit(known.area_prefix) + _slug_expr(pl.col(known.area_column)),
            name=pl.col(known.area_column),
            parent_id=pl.lit(parent_id, dtype=pl.String),
        ).unique("area_id", maintain_order=True)
        top = pl.DataFrame({"area_id": [parent_id], "name": [parent_name], "parent_id": [None]})
        return pl.concat([top, names], how="vertical_relaxed") if parent_id else names
    if known.area:
        name = _NYC[1] if known.area == _NYC[0] else known.area
        return pl.DataFrame({"area_id": [known.area], "name": [name]})
    return pl.DataFrame(schema={"area_id": pl.String, "name": pl.String})
