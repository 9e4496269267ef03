"""Live rows in: observations, events and weather forecasts posted to the API.

Rows are validated with the same code as file ingest, persisted to the store before they are
acknowledged, added to every served task's online window, and then everything is rescored, so
a warning can open on the very post that carried the storm. All or nothing: a refused row
leaves the store and the windows as they were.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl

from features import MergeCounts, Store, merge, validate
from serving.scorers import Scorers

LiveTable = Literal["observations", "events", "weather_forecasts"]


@dataclass(frozen=True)
class IngestCounts:
    """What one post did: rows accepted, and how the idempotent merge took them."""

    accepted: int
    inserted: int
    updated: int
    unchanged: int
    warning_changes: int


class Ingest:
    """Takes live rows of the time-stamped tables into the store and the served scorers."""

    def __init__(self, store: Store, scorers: Scorers) -> None:
        self._store, self._scorers = store, scorers
        self._write_lock = threading.Lock()  # merges rewrite Parquet files: one at a time

    def post(self, table: LiveTable, rows: list[dict[str, Any]]) -> IngestCounts:
        """Validate, persist, add to every online state and rescore.

        Raises:
            DataError: naming the row and column of the first problems; nothing is written.
        """
        frame = pl.DataFrame(rows, strict=False)
        catalog = self._store.read("areas") if table == "events" else self._scorers.catalog
        valid = validate(table, frame, source="request body", catalog=catalog)
        with self._write_lock:
            counts: MergeCounts = merge(self._store, table, valid)
        for scorer in self._scorers.by_domain.values():
            if table == "observations":
                scorer.state.add_observations(valid)
            elif table == "events":
                scorer.state.add_events(valid)
            else:
                scorer.state.add_forecasts(valid)
        changes = self._scorers.rescore()
        return IngestCounts(
            accepted=valid.height,
            inserted=counts.inserted,
            updated=counts.updated,
            unchanged=counts.unchanged,
            warning_changes=len(changes),
        )
