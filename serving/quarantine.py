"""Batches held for review: plausible row by row, but too much at once to act on unseen.

A batch that would move a forecast origin further than the service allows, or open, move or
close more warnings at once than it allows, is kept here instead of reaching the store and
the warnings: a clock gone wrong at a sender, or a feed replaying a day, must not close every
open warning in the city. An ``admin`` lists what is held (why, from whom, how many rows) and
releases a batch (it is then taken as posted, bounds lifted) or discards it. Each batch is a
Parquet file of its validated rows beside a JSON file saying why it was held.
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from features import NotFoundError


@dataclass(frozen=True)
class HeldBatch:
    """One held batch, without its rows."""

    id: str
    table: str
    rows: int
    reason: str
    posted_by: str
    held_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "table": self.table,
            "rows": self.rows,
            "reason": self.reason,
            "posted_by": self.posted_by,
            "held_at": self.held_at.isoformat(),
        }


class Quarantine:
    """Held batches in a folder of their own (``<home>/quarantine``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._lock = threading.Lock()

    def hold(self, table: str, rows: pl.DataFrame, reason: str, posted_by: str) -> HeldBatch:
        batch = HeldBatch(
            id=datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3),
            table=table,
            rows=rows.height,
            reason=reason,
            posted_by=posted_by,
            held_at=datetime.now(UTC),
        )
        self.put_back(batch, rows)
        return batch

    def list(self) -> list[HeldBatch]:
        """Every held batch, oldest first."""
        if not self.folder.exists():
            return []
        return sorted(
            (self._meta(p) for p in self.folder.glob("*.json")), key=lambda b: (b.held_at, b.id)
        )

    def take(self, batch_id: str) -> tuple[HeldBatch, pl.DataFrame]:
        """A held batch and its rows, removed from the quarantine.

        Raises:
            NotFoundError: nothing is held under that id.
        """
        with self._lock:
            meta_path = self.folder / f"{batch_id}.json"
            if not batch_id.replace("-", "").isalnum() or not meta_path.exists():
                raise NotFoundError(
                    f"no quarantined batch has id {batch_id[:40]!r}; GET /v1/quarantine lists them"
                )
            batch = self._meta(meta_path)
            rows = pl.read_parquet(self.folder / f"{batch_id}.parquet")
            meta_path.unlink()
            (self.folder / f"{batch_id}.parquet").unlink()
        return batch, rows

    def put_back(self, batch: HeldBatch, rows: pl.DataFrame) -> None:
        """Keep a batch (a new one, or one taken whose release failed): its rows, then the
        JSON saying why, which is what :meth:`list` reads."""
        with self._lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            rows.write_parquet(self.folder / f"{batch.id}.parquet")
            meta = json.dumps(batch.to_dict(), ensure_ascii=False)
            (self.folder / f"{batch.id}.json").write_text(meta)

    @staticmethod
    def _meta(path: Path) -> HeldBatch:
        raw = json.loads(path.read_text())
        return HeldBatch(
            id=raw["id"],
            table=raw["table"],
            rows=int(raw["rows"]),
            reason=raw["reason"],
            posted_by=raw["posted_by"],
            held_at=datetime.fromisoformat(raw["held_at"]),
        )
