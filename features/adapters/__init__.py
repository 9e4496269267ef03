"""Adapters from real public data formats to the canonical tables.

Each adapter reads raw files (a folder or the files themselves) and returns canonical tables
(``dict[str, pl.DataFrame]``); ``ingest_tables`` then sends them through the same path as
canonical files: every table validated (observations against the series catalog, events against
the areas) before ``features.ingest.merge`` writes anything. Adapters parse raw values strictly
and name the raw file, row and column of anything they cannot read; rows they build keep their
raw origin, so a validation problem (a value out of range) is also reported against the raw file.

Formats (``citybrain ingest --format NAME``): ``metr-la`` road speeds with their sensor graph,
``usgs`` NWIS instantaneous values, ``camels`` CAMELS-US daily basin data, ``calls311`` hotline
call records (LA MyLA311, NYC Council constituent cases), ``floodnet`` NYC FloodNet street-flood
events rebuilt into depth series.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import polars as pl

from features.adapters import (
    asos,
    calls311,
    camels,
    daily_counts,
    floodnet,
    metr_la,
    metro_traffic,
    usgs,
)
from features.adapters.common import COLUMN, FILE, PROVENANCE, ROW, AdapterOptions
from features.errors import DataError
from features.ingest import IngestReport, ingest_frames
from features.schemas import TABLES
from features.store import Store

Adapter = Callable[[Sequence[Path], AdapterOptions], dict[str, pl.DataFrame]]

ADAPTERS: dict[str, Adapter] = {
    "metr-la": metr_la.adapt,
    "usgs": usgs.adapt,
    "camels": camels.adapt,
    "calls311": calls311.adapt,
    "metro-traffic": metro_traffic.adapt,
    "asos": asos.adapt,
    "daily-counts": daily_counts.adapt,
    "floodnet": floodnet.adapt,
}

__all__ = ["ADAPTERS", "AdapterOptions", "adapt", "ingest_format", "ingest_tables"]


def adapt(fmt: str, paths: Sequence[Path], options: AdapterOptions | None = None) -> dict:
    """Run the adapter named ``fmt`` on ``paths``; tables may carry provenance columns."""
    if fmt not in ADAPTERS:
        raise DataError(f"unknown format {fmt!r}; known formats: {', '.join(ADAPTERS)}")
    return ADAPTERS[fmt](list(paths), options or AdapterOptions())


def ingest_format(
    store: Store, fmt: str, paths: Sequence[Path], options: AdapterOptions | None = None
) -> IngestReport:
    """Adapt raw files of format ``fmt`` and ingest the tables; on any error nothing is written."""
    return ingest_tables(store, adapt(fmt, paths, options), source=fmt)


def ingest_tables(store: Store, tables: Mapping[str, pl.DataFrame], *, source: str) -> IngestReport:
    """Validate every table (catalogs first), then merge them; on any error nothing is written.

    ``source`` names the input where a table has no provenance columns. A validation problem
    on a row that carries provenance is re-raised against the raw file, row and column.
    """
    inputs, origins = [], {}
    for table, frame in tables.items():
        if table not in TABLES:
            raise DataError(f"adapter {source!r} made unknown table {table!r}")
        if frame.is_empty():
            continue
        label = _label(source, table, frame)
        origins[label] = (table, frame.select([c for c in PROVENANCE if c in frame.columns]))
        inputs.append((label, table, frame.drop(PROVENANCE, strict=False)))
    try:
        return ingest_frames(store, inputs)
    except DataError as err:
        raise _locate(err, origins) from None


def _label(source: str, table: str, frame: pl.DataFrame) -> str:
    files = frame[FILE].unique(maintain_order=True).to_list() if FILE in frame.columns else []
    if len(files) == 1:
        return f"{files[0]} ({source} -> {table})"
    return f"{source} -> {table}" + (f" (from {len(files)} files)" if files else "")


def _locate(err: DataError, origins: dict[str, tuple[str, pl.DataFrame]]) -> DataError:
    """The same problem, pointed at the raw file and row the canonical row came from."""
    if err.file not in origins or err.row is None:
        return err
    table, origin = origins[err.file]
    if FILE not in origin.columns or ROW not in origin.columns or err.row > origin.height:
        return err
    where = [f"file {err.file}", f"row {err.row}"]
    if err.column is not None:
        where.append(f"column {err.column!r}")
    prefix = ", ".join(where) + ": "
    message = err.message[len(prefix) :] if err.message.startswith(prefix) else err.message
    record = origin.row(err.row - 1, named=True)
    column = err.column
    if COLUMN in origin.columns and record[COLUMN] is not None and err.column == "value":
        column = record[COLUMN]
    return DataError(
        f"{message} (row {err.row} of the {table} made from it)",
        file=record[FILE],
        row=record[ROW],
        column=column,
    )
