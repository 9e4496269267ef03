"""The canonical store of the embedded default: Parquet files under a data folder.

Small tables are one file each (``series.parquet``). Observations, the big one, are partitioned
by UTC month (``observations/2025-09.parquet``), so a live batch or a day of ingest rewrites one
month, not the whole history. Every file write is atomic (write a temporary file, then rename):
a failed ingest or a crash never leaves a half-written file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import polars as pl

from features.errors import DataError
from features.schemas import SCHEMAS, TABLES, conform, empty

# table -> the time column its monthly partitions follow
PARTITIONED: dict[str, str] = {"observations": "ts"}


class Store:
    """Canonical tables as Parquet under ``root``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, table: str) -> Path:
        """The table's file, or its folder of monthly files if it is partitioned."""
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
            legacy = self.root / f"{table}.parquet"  # a folder written before partitioning
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
        """The stored rows a merge of ``frame`` can touch: its months, or the whole table."""
        if table not in PARTITIONED:
            return self.read(table)
        files = [self.path(table) / f"{m}.parquet" for m in _months(frame, PARTITIONED[table])]
        files = [f for f in files if f.exists()]
        return pl.read_parquet(files) if files else empty(table)

    def write(self, table: str, frame: pl.DataFrame) -> None:
        """Replace a table with ``frame`` conformed to the canonical schema."""
        frame = conform(table, frame)
        if table not in PARTITIONED:
            self.root.mkdir(parents=True, exist_ok=True)
            _atomic_write(frame, self.path(table))
            return
        legacy = self.root / f"{table}.parquet"
        keep = self.replace_overlapping(table, frame)
        for stale in self._files(table):
            if stale.stem not in keep:
                stale.unlink()
        legacy.unlink(missing_ok=True)

    def replace_overlapping(self, table: str, frame: pl.DataFrame) -> set[str]:
        """Replace only the partitions ``frame`` has rows in (all of a small table); returns
        the partition names written."""
        frame = conform(table, frame)
        if table not in PARTITIONED:
            self.write(table, frame)
            return {table}
        folder = self.path(table)
        folder.mkdir(parents=True, exist_ok=True)
        column = PARTITIONED[table]
        months = _months(frame, column)
        for month in months:
            part = frame.filter(pl.col(column).dt.strftime("%Y-%m") == month)
            _atomic_write(part, folder / f"{month}.parquet")
        return set(months)


def _months(frame: pl.DataFrame, column: str) -> list[str]:
    return sorted(
        frame.select(pl.col(column).dt.strftime("%Y-%m").unique())
        .to_series()
        .drop_nulls()
        .to_list()
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
