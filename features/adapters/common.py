"""What the format adapters share: options, file discovery, strict parsing that names the raw
file, row and column, and the provenance columns that map a canonical row back to its raw row.

Row numbers follow ``features.validation``: 1-based data rows, the header not counted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

import polars as pl

from features.errors import DataError
from features.schemas import UTC_TS

# Provenance columns an adapter may add to a table: the raw file, its data row and, for a value,
# the raw column it came from. ``ingest_tables`` strips them and uses them to point errors home.
FILE, ROW, COLUMN = "_file", "_row", "_column"
PROVENANCE = (FILE, ROW, COLUMN)

FT3S_TO_M3S = 0.028316846592  # 1 ft3/s in m3/s (exact: 0.3048**3)
FT_TO_M = 0.3048
IN_TO_MM = 25.4
MPH_TO_KMH = 1.609344


@dataclass
class AdapterOptions:
    """Options of ``citybrain ingest --format``; each adapter reads the ones it documents.

    ``notes`` collects what the adapter did to the data (missing values dropped, assumptions), so
    the command line can print it above the merge counts.
    """

    tz: str | None = None
    start: str | None = None
    forcing: str | None = None
    # daily counts: a day a table does not list counts zero, or is left missing (a series
    # that lives on open days only: a weekend or holiday is no day of zero calls)
    absent_days: Literal["zero", "missing"] = "zero"
    notes: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        self.notes.append(text)


def expand(paths: Sequence[Path], patterns: Iterable[str] = ("*",)) -> list[Path]:
    """Files named by ``paths``; a folder stands for its files (recursively) matching a pattern."""
    out: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = {f for pat in patterns for f in path.rglob(pat) if f.is_file()}
            out += sorted(found)
        elif path.is_file():
            out.append(path)
        else:
            raise DataError("does not exist", file=str(path))
    return out


def read_text_csv(path: Path, **kwargs: object) -> pl.DataFrame:
    """A CSV with every column as text, so each bad value can be reported with its row."""
    try:
        return pl.read_csv(path, infer_schema=False, raise_if_empty=False, **kwargs)  # type: ignore[arg-type]
    except (OSError, pl.exceptions.PolarsError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(f"cannot be read: {first}", file=str(path)) from None


def read_lines(path: Path, skip: int = 0) -> pl.Series:
    """The file's lines after ``skip`` as one text column (for whitespace-separated formats)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as err:
        raise DataError(f"cannot be read: {err.strerror}", file=str(path)) from None
    return pl.Series("line", text.splitlines()[skip:], dtype=pl.String)


def require_columns(path: Path, columns: Sequence[str], needed: Sequence[str], what: str) -> None:
    missing = [c for c in needed if c not in columns]
    if missing:
        raise DataError(
            f"lacks column(s) {', '.join(missing)} of the {what} layout "
            f"(expected {', '.join(needed)}; found {', '.join(columns) or 'none'})",
            file=str(path),
            column=missing[0],
        )


def _blank(values: pl.Series) -> pl.Series:
    return values.is_null() | (values.str.strip_chars() == "")


def to_float(
    values: pl.Series, *, file: Path, column: str, rows: pl.Series | None = None
) -> pl.Series:
    """Parse text to numbers; blanks become null; any other non-number raises a ``DataError``."""
    if values.dtype.is_numeric():
        return values.cast(pl.Float64)
    text = values.cast(pl.String)
    parsed = text.str.strip_chars().cast(pl.Float64, strict=False)
    bad = ~_blank(text) & parsed.is_null()
    _raise_first(bad, text, rows, file=file, column=column, why="is not a number")
    return parsed


def to_datetime(
    values: pl.Series,
    formats: Sequence[str],
    *,
    file: Path,
    column: str,
    rows: pl.Series | None = None,
) -> pl.Series:
    """Parse naive local timestamps with the first format that fits; blanks and misfits raise."""
    text = values.cast(pl.String).str.strip_chars()
    parsed = pl.select(
        pl.coalesce(
            [pl.lit(text).str.to_datetime(f, strict=False, time_unit="us") for f in formats]
        )
    ).to_series()
    bad = parsed.is_null()
    _raise_first(bad, text, rows, file=file, column=column, why="is not a time")
    return parsed.alias(values.name)


def localize(
    naive: pl.Series, zone: str, *, file: Path, column: str, rows: pl.Series | None = None
) -> pl.Series:
    """Naive local times in ``zone`` to UTC; a time skipped by a clock change is an error."""
    local = naive.dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null")
    bad = naive.is_not_null() & local.is_null()
    _raise_first(
        bad, naive.cast(pl.String), rows, file=file, column=column, why=f"does not exist in {zone}"
    )
    return local.dt.convert_time_zone("UTC").cast(UTC_TS)


def _raise_first(
    bad: pl.Series,
    text: pl.Series,
    rows: pl.Series | None,
    *,
    file: Path,
    column: str,
    why: str,
) -> None:
    count = int(bad.sum())
    if not count:
        return
    index = int(bad.arg_true()[0])
    row = int(rows[index]) if rows is not None else index + 1
    more = f" ({count - 1} more rows like it)" if count > 1 else ""
    raise DataError(f"{text[index]!r} {why}{more}", file=str(file), row=row, column=column)


def check_zone(zone: str, flag: str = "--tz") -> str:
    try:
        pl.Series([None], dtype=pl.Datetime("us")).dt.replace_time_zone(zone)
    except pl.exceptions.PolarsError:
        raise DataError(f"{flag} {zone!r} is not an IANA time zone name (such as UTC)") from None
    return zone


def parse_start(text: str, flag: str = "--start") -> datetime:
    for fmt in ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    raise DataError(f"{flag} {text!r} is not a local time; write it like 2012-03-01T00:00")


def snake_case(expr: pl.Expr) -> pl.Expr:
    """``'Metal/Household Appliances'`` -> ``'metal_household_appliances'``; blank -> null."""
    out = expr.str.to_lowercase().str.replace_all(r"[^a-z0-9]+", "_").str.strip_chars("_")
    return pl.when(out == "").then(None).otherwise(out)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
