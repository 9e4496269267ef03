"""Live rows in: observations, events and weather forecasts posted to the API.

Rows are validated with the same code as file ingest, plus the live checks: no time stamp
later than the wall clock and its allowed skew. What the store already holds as posted is
dropped (a re-post changes nothing and rescores nothing; an arrival time is never rewritten).
The rest is tried first: every served task scores a copy of its window with the new rows, and
a batch that would move a forecast origin too far or change too many warnings at once is held
in the quarantine for an admin instead (``serving.quarantine``). A batch within bounds is
written to the store, its tries become the served states and the warning engine acts on
their forecasts, so a warning can open on the very post that carried the storm. All or
nothing: a refused or held batch leaves the store, the windows and the warnings as they were.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import polars as pl

from features import Store, apply_merge, plan_merge, validate
from serving.online import OnlineState
from serving.quarantine import HeldBatch, Quarantine
from serving.scorers import Scorers, Trial

LiveTable = Literal["observations", "events", "weather_forecasts"]
_STAMP = {"observations": "ts", "events": "ts", "weather_forecasts": "issued_at"}


@dataclass(frozen=True)
class Bounds:
    """How much one batch may do before it is held for review."""

    max_future: timedelta
    max_origin_jump: timedelta
    max_warning_changes: int


@dataclass(frozen=True)
class IngestCounts:
    """What one post did: rows accepted, how the idempotent merge took them, and whether the
    batch was held for review instead."""

    accepted: int
    inserted: int
    updated: int
    unchanged: int
    warning_changes: int
    rescored: tuple[str, ...] = ()
    quarantined: HeldBatch | None = None


class Ingest:
    """Takes live rows of the time-stamped tables into the store and the served scorers."""

    def __init__(
        self,
        store: Store,
        scorers: Scorers,
        quarantine: Quarantine,
        bounds: Bounds,
        *,
        on_rows: Callable[[str, str, int], None] = lambda table, outcome, n: None,
        on_lag: Callable[[str, float], None] = lambda table, seconds: None,
    ) -> None:
        self._store, self._scorers, self.quarantine = store, scorers, quarantine
        self.bounds = bounds
        self._on_rows, self._on_lag = on_rows, on_lag
        self._lock = threading.Lock()  # one batch at a time: merges rewrite Parquet files

    def post(self, table: LiveTable, rows: list[dict[str, Any]], *, by: str) -> IngestCounts:
        """Validate, drop what is already stored, try, then persist and rescore (or hold).

        Raises:
            DataError: naming the row and column of the first problems; nothing is written.
        """
        frame = pl.DataFrame(rows, strict=False)
        catalog = (
            self._store.read("areas")
            if table in ("events", "weather_forecasts")
            else self._scorers.catalog
        )
        try:
            valid = validate(
                table,
                frame,
                source="request body",
                catalog=catalog,
                not_after=datetime.now(UTC) + self.bounds.max_future,
            )
        except Exception:
            self._on_rows(table, "refused", frame.height)
            raise
        stamps = valid[_STAMP[table]]
        newest = stamps.max()
        if isinstance(newest, datetime):
            self._on_lag(table, (datetime.now(UTC) - newest).total_seconds())
        return self._take(table, valid, by=by, bounded=True)

    def release(self, batch_id: str, *, by: str) -> tuple[HeldBatch, IngestCounts]:
        """Take a held batch in as posted, the bounds lifted (an admin has looked at it)."""
        batch, rows = self.quarantine.take(batch_id)
        try:
            counts = self._take(batch.table, rows, by=by, bounded=False)  # type: ignore[arg-type]
        except Exception:
            self.quarantine.put_back(batch, rows)
            raise
        return batch, counts

    def _take(
        self, table: LiveTable, valid: pl.DataFrame, *, by: str, bounded: bool
    ) -> IngestCounts:
        with self._lock, self._scorers.lock:
            plan = plan_merge(self._store, table, valid)
            counts, changed = plan.counts, plan.changed
            base = IngestCounts(
                accepted=valid.height,
                inserted=counts.inserted,
                updated=counts.updated,
                unchanged=counts.unchanged,
                warning_changes=0,
            )
            self._on_rows(table, "unchanged", counts.unchanged)
            if changed.height == 0:
                return base
            trial = self._scorers.trial(_adder(table, changed))
            reason = self._implausible(trial) if bounded else None
            if reason is not None:
                held = self.quarantine.hold(table, changed, reason, by)
                self._on_rows(table, "quarantined", changed.height)
                return IngestCounts(
                    accepted=0,
                    inserted=0,
                    updated=0,
                    unchanged=counts.unchanged,
                    warning_changes=0,
                    quarantined=held,
                )
            rescored = tuple(
                d
                for d, snap in trial.snaps.items()
                if snap is not None and snap is not self._scorers.by_domain[d].snapshot
            )
            # the warnings first (the ledger is their record, and the dispatcher is woken), then
            # the store: a storm's messages do not wait for Parquet to be rewritten.
            # Should the write fail, the caller gets the error and posts again: the rows are
            # then written, the forecasts (already made from them) stay as they are.
            changes = self._scorers.apply(trial)
            apply_merge(self._store, table, plan)
            self._on_rows(table, "inserted", counts.inserted)
            self._on_rows(table, "updated", counts.updated)
            return IngestCounts(
                accepted=valid.height,
                inserted=counts.inserted,
                updated=counts.updated,
                unchanged=counts.unchanged,
                warning_changes=len(changes),
                rescored=rescored,
            )

    def _implausible(self, trial: Trial) -> str | None:
        """Why the trial should be held for review, or None."""
        for domain, (was, now) in self._scorers.origin_moves(trial).items():
            if now - was > self.bounds.max_origin_jump:
                return (
                    f"it would move the {domain} forecast origin from {was:%Y-%m-%d %H:%M} to "
                    f"{now:%Y-%m-%d %H:%M} UTC, more than the {self.bounds.max_origin_jump} "
                    "allowed at once (CITYBRAIN_MAX_ORIGIN_JUMP_S)"
                )
        planned = self._scorers.preview(trial)
        if len(planned) > self.bounds.max_warning_changes:
            actions: dict[str, int] = {}
            for p in planned:
                actions[p.action] = actions.get(p.action, 0) + 1
            shown = ", ".join(f"{n} {a}" for a, n in sorted(actions.items()))
            return (
                f"it would change {len(planned)} warnings at once ({shown}), more than the "
                f"{self.bounds.max_warning_changes} allowed (CITYBRAIN_MAX_WARNING_CHANGES)"
            )
        return None


def _adder(table: LiveTable, rows: pl.DataFrame) -> Callable[[OnlineState], None]:
    def add(state: OnlineState) -> None:
        if table == "observations":
            state.add_observations(rows)
        elif table == "events":
            state.add_events(rows)
        else:
            state.add_forecasts(rows)

    return add
