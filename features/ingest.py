"""Ingest: read CSV or Parquet files, validate every one, then merge them into the store.

The order is the guarantee: all files are read and validated before the first write, so invalid
input leaves the store untouched. Catalog files (areas, series) are validated before the tables
that point into them, so one call can bring a new series together with its observations. Merges
are upserts on the table's key, written sorted by key, so ingesting the same file again leaves
the store byte-identical.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from features.errors import DataError
from features.quality import QualityReport, quality_report
from features.schemas import KEYS, OPTIONAL_COLUMNS, SCHEMAS, TABLES, conform
from features.store import Store
from features.validation import validate

# Tables other tables point into: validated (and made visible as catalogs) first.
_REFERENCES = {"observations": "series", "events": "areas"}


@dataclass(frozen=True)
class MergeCounts:
    """What one merge did to a table: new keys, changed rows, and rows already present as given."""

    table: str
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass(frozen=True)
class IngestReport:
    """Per file: its table and rows (and exact repeats dropped); per table: the merge counts."""

    files: tuple[dict[str, Any], ...]
    merges: dict[str, MergeCounts]
    quality: QualityReport | None = None
    dropped: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": list(self.files),
            "merges": {t: vars(c) for t, c in self.merges.items()},
            "duplicates_dropped": self.dropped,
            "quality": self.quality.to_dict() if self.quality else None,
        }

    def to_text(self) -> str:
        lines = [f"{'table':<18} {'inserted':>9} {'updated':>9} {'unchanged':>9} {'dropped':>9}"]
        for table, c in self.merges.items():
            dropped = self.dropped.get(table, 0)
            lines.append(
                f"{table:<18} {c.inserted:>9} {c.updated:>9} {c.unchanged:>9} {dropped:>9}"
            )
        if self.quality is not None:
            lines += ["", self.quality.to_text()]
        return "\n".join(lines)


def read_input(
    path: Path, *, table: str | None = None, tz: str | None = None
) -> tuple[str, pl.DataFrame]:
    """Read one input file and tell which table it holds.

    CSV columns are read as text so that ``validate`` reports each bad value with its row. The
    table is ``table`` if given, else the one whose required columns the file has, else the one
    the file is named after (``observations-2025.csv``). ``tz`` is not needed to read: it is
    accepted so callers can pass one set of options; ``validate`` applies it.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            frame = pl.read_csv(path, infer_schema=False, raise_if_empty=False)
        elif suffix in (".parquet", ".pq"):
            frame = pl.read_parquet(path)
        else:
            raise DataError("is neither .csv nor .parquet; write the input as one", file=str(path))
    except (OSError, pl.exceptions.PolarsError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(f"cannot be read: {first}", file=str(path)) from None
    return table or _infer_table(path, frame.columns), frame


def _infer_table(path: Path, columns: list[str]) -> str:
    by_columns = [
        t for t in TABLES if all(c in columns for c in SCHEMAS[t] if c not in OPTIONAL_COLUMNS[t])
    ]
    if len(by_columns) == 1:
        return by_columns[0]
    stem = path.stem.lower()
    by_name = [t for t in TABLES if stem.startswith(t)]
    if by_name:
        return max(by_name, key=len)
    raise DataError(
        f"cannot tell which table it holds (its columns fit {', '.join(by_columns) or 'none'}); "
        f"name the file after a table ({', '.join(TABLES)}) or pass --table",
        file=str(path),
    )


# A column that says when a row arrived: kept from the first arrival, never erased or moved
# earlier by a repeat, so point-in-time history does not change under a re-post.
_ARRIVAL = {"observations": "received_at"}


@dataclass(frozen=True)
class MergePlan:
    """What merging a frame would do: the counts, the rows new or changed (arrival times
    resolved against the store) and the stored rows of the partitions they touch."""

    counts: MergeCounts
    changed: pl.DataFrame
    stored: pl.DataFrame


def plan_merge(store: Store, table: str, frame: pl.DataFrame) -> MergePlan:
    """What merging ``frame`` into ``table`` would do, without writing.

    A row equal to the stored one in every value but its arrival time is unchanged: a re-post
    of what was already received changes nothing.
    """
    key = list(KEYS[table])
    frame = conform(table, frame).unique(subset=key, keep="last", maintain_order=True)
    stored = store.read_overlapping(table, frame)
    arrival = _ARRIVAL.get(table)
    compared = [c for c in SCHEMAS[table] if c != arrival]
    inserted = frame.join(stored, on=key, how="anti").height
    changed = frame.join(stored, on=compared, how="anti", nulls_equal=True)
    if arrival is not None and changed.height:
        was = stored.select(*key, pl.col(arrival).alias("_was"))
        changed = (
            changed.join(was, on=key, how="left", maintain_order="left")
            .with_columns(pl.max_horizontal(arrival, "_was").alias(arrival))
            .drop("_was")
        )
    counts = MergeCounts(table, inserted, changed.height - inserted, frame.height - changed.height)
    return MergePlan(counts, changed, stored)


def apply_merge(store: Store, table: str, plan: MergePlan) -> None:
    """Write a :func:`plan_merge` made on the store as it still is (the caller holds the
    store's writer lock between the two): nothing is written when nothing changes."""
    if plan.changed.height:
        key = list(KEYS[table])
        kept = plan.stored.join(plan.changed, on=key, how="anti")
        store.replace_overlapping(
            table, pl.concat([kept, plan.changed]).sort(key, maintain_order=True)
        )


def merge(store: Store, table: str, frame: pl.DataFrame) -> MergeCounts:
    """Upsert validated rows into ``table`` on its key and write it back sorted by key.

    A repeated key replaces the stored row, never adds one; within ``frame`` the last row of a
    key wins. Nothing is written when nothing changes, so the file stays byte-identical.
    """
    plan = plan_merge(store, table, frame)
    apply_merge(store, table, plan)
    return plan.counts


def ingest_files(
    store: Store,
    paths: Sequence[Path],
    *,
    table: str | None = None,
    tz: str | None = None,
) -> IngestReport:
    """Read and validate every file, then merge them; on any error nothing is written."""
    inputs = [(str(p), *read_input(Path(p), table=table, tz=tz)) for p in paths]
    return ingest_frames(store, inputs, tz=tz)


def ingest_frames(
    store: Store,
    inputs: Sequence[tuple[str, str, pl.DataFrame]],
    *,
    tz: str | None = None,
) -> IngestReport:
    """Validate ``(source, table, frame)`` inputs, then merge them; on any error nothing is written.

    The path behind ``ingest_files`` and the format adapters: ``source`` names the input in
    errors and in the report, ``frame`` holds the table's columns as text or typed values.
    """
    inputs = sorted(inputs, key=lambda item: TABLES.index(item[1]))
    valid: dict[str, list[pl.DataFrame]] = {}
    files: list[dict[str, Any]] = []
    dropped: dict[str, int] = {}
    repeats: list[pl.DataFrame] = []
    for path, name, raw in inputs:
        reference = _REFERENCES.get(name)
        catalog = _current(store, reference, valid) if reference else None
        frame = validate(name, raw, source=str(path), catalog=catalog, tz=tz)
        valid.setdefault(name, []).append(frame)
        files.append({"file": path, "table": name, "rows": raw.height})
        dropped[name] = dropped.get(name, 0) + raw.height - frame.height
        if name == "observations":
            repeats.append(_repeats_by_series(raw, frame))
    merges = {name: merge(store, name, pl.concat(frames)) for name, frames in valid.items()}
    quality = None
    if "observations" in valid:
        by_series = pl.concat(repeats).group_by("series_id").agg(pl.col("n").sum())
        quality = quality_report(
            pl.concat(valid["observations"]),
            store.read("series"),
            dropped=dict(by_series.iter_rows()),
        )
    return IngestReport(tuple(files), merges, quality, dropped)


def _current(store: Store, table: str, valid: dict[str, list[pl.DataFrame]]) -> pl.DataFrame:
    """The stored table overlaid with rows of it validated earlier in this call."""
    frames = [store.read(table), *valid.get(table, [])]
    return pl.concat(frames).unique(subset=list(KEYS[table]), keep="last", maintain_order=True)


def _repeats_by_series(raw: pl.DataFrame, valid: pl.DataFrame) -> pl.DataFrame:
    before = raw.group_by(pl.col("series_id").cast(pl.String)).len("before")
    after = valid.group_by("series_id").len("after")
    joined = before.join(after, on="series_id", how="left").fill_null(0)
    return joined.select("series_id", n=pl.col("before") - pl.col("after")).filter(pl.col("n") > 0)
