"""The canonical store of the embedded default: one Parquet file per table under a data folder.

Writes are atomic (write to a temporary file, then rename), so a failed ingest or a crash never
leaves a half-written table; readers always see either the old or the new file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import polars as pl

from features.errors import DataError
from features.schemas import SCHEMAS, TABLES, conform, empty


class Store:
    """Canonical tables as Parquet files in ``root`` (``<table>.parquet``)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, table: str) -> Path:
        if table not in SCHEMAS:
            raise DataError(f"unknown table {table!r}; known tables: {', '.join(TABLES)}")
        return self.root / f"{table}.parquet"

    def exists(self, table: str) -> bool:
        return self.path(table).exists()

    def scan(self, table: str) -> pl.LazyFrame:
        """A lazy view of a table; an absent table is empty."""
        path = self.path(table)
        if not path.exists():
            return empty(table).lazy()
        return pl.scan_parquet(path)

    def read(self, table: str) -> pl.DataFrame:
        return self.scan(table).collect()

    def write(self, table: str, frame: pl.DataFrame) -> None:
        """Replace a table atomically with ``frame`` conformed to the canonical schema."""
        self.root.mkdir(parents=True, exist_ok=True)
        target = self.path(table)
        frame = conform(table, frame)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=f".{table}.", suffix=".tmp")
        os.close(fd)
        try:
            frame.write_parquet(tmp, compression="zstd", statistics=True)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
