"""The canonical store of the embedded default: Parquet files under a data folder.

Small tables are one file each (``series.parquet``). Observations and events, the big ones, are
partitioned by UTC day (``observations/2025-09-27.parquet``), so a live batch rewrites the one
day it falls in (a few milliseconds), not its month (a fifth of a second on the demo's city,
on every POST). Every file write is atomic (write a temporary file, then rename): a failed
ingest or a crash never leaves a half-written file.

A store written by an earlier version (one file per table, or one per month) is read as it is,
and rewritten by day the first time something is written to that table: all its rows into a
new folder, which then replaces the old files, so a crash midway leaves the old layout whole.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import polars as pl

from features.errors import DataError
from features.schemas import SCHEMAS, TABLES, conform, empty

# table -> the time column its daily partitions follow
PARTITIONED: dict[str, str] = {"observations": "ts", "events": "ts"}
_DAY = "%Y-%m-%d"


class Store:
    """Canonical tables as Parquet under ``root``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, table: str) -> Path:
        """The table's file, or its folder of daily files if it is partitioned."""
        if table not in SCHEMAS:
            raise DataError(f"unknown table {table!r}; known tables: {', '.join(TABLES)}")
        if table in PARTITIONED:
            return self.root / table
        return self.root / f"{table}.parquet"

    def _files(self, table: str) -> list[Path]:
        path = self.path(table)
        if table in PARTITIONED:
            if path.is_dir():
                return sorted(path.glob("*.parquet"))
            legacy = self.root / f"{table}.parquet"  # a table written before partitioning
            return [legacy] if legacy.exists() else []
        return [path] if path.exists() else []

    def exists(self, table: str) -> bool:
        return bool(self._files(table))

    def scan(self, table: str) -> pl.LazyFrame:
        """A lazy view of a table; an absent table is empty."""
        files = self._files(table)
        if not files:
            return empty(table).lazy()
        return pl.scan_parquet(files)

    def read(self, table: str) -> pl.DataFrame:
        return self.scan(table).collect()

    def read_overlapping(self, table: str, frame: pl.DataFrame) -> pl.DataFrame:
        """The stored rows a merge of ``frame`` can touch: its days, or the whole table."""
        if table not in PARTITIONED:
            return self.read(table)
        self._by_day(table)
        files = [self.path(table) / f"{d}.parquet" for d in _days(frame, PARTITIONED[table])]
        files = [f for f in files if f.exists()]
        return conform(table, pl.read_parquet(files)) if files else empty(table)

    def write(self, table: str, frame: pl.DataFrame) -> None:
        """Replace a table with ``frame`` conformed to the canonical schema."""
        frame = conform(table, frame)
        if table not in PARTITIONED:
            self.root.mkdir(parents=True, exist_ok=True)
            _atomic_write(frame, self.path(table))
            return
        self._by_day(table)
        keep = self.replace_overlapping(table, frame)
        for stale in self._files(table):
            if stale.stem not in keep:
                stale.unlink()

    def replace_overlapping(self, table: str, frame: pl.DataFrame) -> set[str]:
        """Replace only the partitions ``frame`` has rows in (all of a small table); returns
        the partition names written."""
        frame = conform(table, frame)
        if table not in PARTITIONED:
            self.write(table, frame)
            return {table}
        self._by_day(table)
        folder = self.path(table)
        folder.mkdir(parents=True, exist_ok=True)
        days = _by_days(frame, PARTITIONED[table])
        for day, part in days.items():
            _atomic_write(part, folder / f"{day}.parquet")
        return set(days)

    def _by_day(self, table: str) -> None:
        """Rewrite a partitioned table stored the earlier way (one file, or one per month) as
        one file per day; nothing to do when it already is."""
        folder, legacy = self.path(table), self.root / f"{table}.parquet"
        files = self._files(table)
        if not files or all(_is_day(f) for f in files):
            if folder.is_dir():  # a crash after the swap left the single file behind
                legacy.unlink(missing_ok=True)
            return
        rows = conform(table, pl.read_parquet(files))
        fresh = Path(tempfile.mkdtemp(dir=self.root, prefix=f".{table}.by-day."))
        for day, part in _by_days(rows, PARTITIONED[table]).items():
            part.write_parquet(fresh / f"{day}.parquet", compression="zstd", statistics=True)
        old = self.root / f".{table}.old"
        shutil.rmtree(old, ignore_errors=True)
        if folder.is_dir():
            folder.rename(old)
        fresh.rename(folder)
        shutil.rmtree(old, ignore_errors=True)
        legacy.unlink(missing_ok=True)


def _is_day(path: Path) -> bool:
    return len(path.stem) == 10  # YYYY-MM-DD (a month's file is YYYY-MM)


def _by_days(frame: pl.DataFrame, column: str) -> dict[str, pl.DataFrame]:
    """The frame's rows per UTC day of ``column``, in one pass.

    Raises:
        DataError: a row without a time (it has no day to be kept in; validation refuses
            such rows before they get here, so this names a caller's bug, never drops it).
    """
    missing = frame[column].null_count()
    if missing:
        raise DataError(f"{missing} rows without a time cannot be stored", column=column)
    parts = frame.with_columns(pl.col(column).dt.strftime(_DAY).alias("_day"))
    return {
        str(key[0]): part.drop("_day")
        for key, part in parts.partition_by("_day", as_dict=True, maintain_order=True).items()
    }


def _days(frame: pl.DataFrame, column: str) -> list[str]:
    return sorted(
        frame.select(pl.col(column).dt.strftime(_DAY).unique()).to_series().drop_nulls().to_list()
    )


def _atomic_write(frame: pl.DataFrame, target: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.", suffix=".tmp")
    os.close(fd)
    try:
        frame.write_parquet(tmp, compression="zstd", statistics=True)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
