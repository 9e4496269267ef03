"""A task's online state: its recent canonical data in memory, updated as live data arrives.

Serving computes features from this state with the same ``build_features`` that training runs in
batch; tests/integration/test_parity.py shows the two agree for every shipped task. The window
keeps, signal by signal, what the task's features read back (its lookback), or more where the
model reads a longer history (``history_span``: a SARIMAX filter window and the rain before
it), plus a margin (:func:`signal_windows`), and drops older rows as new ones arrive, so memory
stays flat however long the server runs and a rescoring bins only what it reads.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

import polars as pl

from features import (
    KEYS,
    LATEST,
    CityTables,
    DataError,
    FeatureSpec,
    TaskConfig,
    TaskTables,
    build_features,
    covariate_memory,
    data_end,
    linked_covariates,
    lookback,
    task_tables,
    warning_memory,
)

MARGIN = timedelta(hours=2)


def online_window(task: TaskConfig, history_span: timedelta | None = None) -> timedelta:
    """How far back serving keeps data: the longest of what the features read, the target
    history the model reads and the history the warning rule reads (a surge's seasonal norm),
    plus a margin."""
    return max(lookback(task), history_span or timedelta(0), warning_memory(task)) + MARGIN


def signal_windows(
    task: TaskConfig,
    history_span: timedelta | None = None,
    history_covariates: Sequence[str] = (),
) -> dict[str, timedelta]:
    """How far back serving keeps each signal's readings: the target's signal for
    :func:`online_window`; a covariate's signal for what its features read back (its sums,
    statistics, antecedent days, the fill limit) and, where the model reads the covariate step
    by step (SARIMAX's rain), for the model's history; any other signal not at all.

    A hotline task reads traffic speeds over 3 hours: keeping every road sensor for the two
    weeks its rain history needs made each rescoring bin 455,000 readings instead of 42,000."""
    step, fill = task.step, task.features.fill_limit
    windows = {task.target.signal: online_window(task, history_span)}
    for cov in linked_covariates(task):
        if cov.signal == task.target.signal:
            continue
        # its longest window, reaching back by the fill limit from its first bin
        memory = max(covariate_memory(cov), default=timedelta(0)) + fill + 2 * step
        if cov.name in history_covariates and history_span is not None:
            memory = max(memory, history_span)
        windows[cov.signal] = max(windows.get(cov.signal, timedelta(0)), memory + MARGIN)
    return windows


class OnlineState:
    def __init__(
        self,
        task: TaskConfig,
        tables: CityTables,
        history_span: timedelta | None = None,
        history_covariates: Sequence[str] = (),
    ) -> None:
        self.task = task
        # readings other than the target's are read only by the features and the model's
        # covariate history: each signal's are kept as long as those read them, not as long
        # as the warning rule's memory of the target (a surge norm's four weeks of every
        # sensor in the city), and a signal nothing reads is not kept
        self.windows = signal_windows(task, history_span, history_covariates)
        self.window = self.windows[task.target.signal]  # the target's: events and forecasts too
        by_signal = tables.series.select("series_id", "signal").iter_rows()
        kept: dict[timedelta, list[str]] = {}
        for sid, signal in by_signal:
            if signal in self.windows:
                kept.setdefault(self.windows[signal], []).append(sid)
        self._kept = {w: pl.Series("series_id", ids) for w, ids in kept.items()}
        self._kept_ids = pl.Series("series_id", [i for ids in kept.values() for i in ids])
        self._lock = threading.Lock()
        self._earliest: datetime | None = None  # the earliest time of rows added since taken
        self._targets_added = False  # whether any of them could be a target's (move the origin)
        # what the task's features read: rows of anything else never call for a new forecast
        signals = {task.target.signal, *(c.signal for c in task.features.observed)}
        self._reads = tables.series.filter(pl.col("signal").is_in(list(signals)))["series_id"]
        self._targets = tables.series.filter(pl.col("signal") == task.target.signal)["series_id"]
        self._reads_events = bool(
            task.target.events or task.features.events or task.features.rainstorm_signal
        )
        self._reads_forecasts = bool(task.features.known_ahead)
        # kept sorted by series and time: a feed's rows, later than the window, merge in cheaply
        self._tables = self._trimmed(
            tables.with_observations(tables.observations.sort("series_id", "ts"))
        )

    @property
    def tables(self) -> CityTables:
        return self._tables

    def copy(self) -> OnlineState:
        """A state to try rows on: scored, previewed, and kept (or dropped) as a whole. The
        tables are immutable frames, so the copy shares them until rows are added."""
        with self._lock:
            other = copy.copy(self)
        other._lock = threading.Lock()
        return other

    def _note(self, stamps: pl.Series) -> None:
        first = stamps.min()
        if isinstance(first, datetime) and (self._earliest is None or first < self._earliest):
            self._earliest = first

    def take_changes(self) -> tuple[datetime | None, bool]:
        """The earliest time stamp (an issue time for forecasts) among the rows added since the
        last call, and whether any was a target's, and forget both: a forecast from an origin
        before that time must be made again, one from an origin before all of them would come
        out the same (features read only data up to their origin), and without a target's
        row the origin (the last grid time holding a target value) cannot have moved."""
        with self._lock:
            earliest, self._earliest = self._earliest, None
            targets, self._targets_added = self._targets_added, False
            return earliest, targets

    def add_observations(self, frame: pl.DataFrame) -> None:
        """Upsert validated observations (a repeated key is an update) and trim the window."""
        with self._lock:
            self._note(frame.filter(pl.col("series_id").is_in(self._reads.implode()))["ts"])
            if frame["series_id"].is_in(self._targets.implode()).any():
                self._targets_added = True
            # rows of a series the window does not keep would be trimmed at once: never sorted in
            fresh = (
                frame.filter(pl.col("series_id").is_in(self._kept_ids.implode()))
                .select(self._tables.observations.columns)
                .unique(subset=list(KEYS["observations"]), keep="last", maintain_order=True)
            )
            if fresh.height == 0:
                return
            window = self._tables.observations
            last = window["ts"].max()
            if isinstance(last, datetime) and fresh["ts"].min() > last:  # type: ignore[operator]
                # the common case, a feed moving on: every fresh row comes after each series'
                # rows, so a stable sort by series alone keeps the order (a tenth of the time
                # of a full sort over a traffic window of 250,000 readings)
                fresh = fresh.sort("series_id", "ts")
                obs = pl.concat([window, fresh]).sort("series_id", maintain_order=True)
            else:
                # the stored rows the fresh ones replace, found by a join on the (few) new
                # keys rather than a pass of ``unique`` over the whole window
                kept = window.join(
                    fresh.select(KEYS["observations"]), on=list(KEYS["observations"]), how="anti"
                )
                obs = pl.concat([kept, fresh]).sort("series_id", "ts")
            self._tables = self._trimmed(self._tables.with_observations(obs))

    def add_events(self, frame: pl.DataFrame) -> None:
        with self._lock:
            if self._reads_events:
                self._note(frame["ts"])
            if self.task.target.events is not None and frame.height:
                self._targets_added = True  # the targets are counted from events
            keys = list(KEYS["events"])
            fresh = frame.select(self._tables.events.columns).unique(
                subset=keys, keep="last", maintain_order=True
            )
            # the stored events the fresh ones correct, found by a join on the (few) new keys
            kept = self._tables.events.join(fresh.select(keys), on=keys, how="anti")
            ev = pl.concat([kept, fresh]).sort("ts", maintain_order=True)
            self._tables = self._trimmed(replace(self._tables, events=ev))

    def add_forecasts(self, frame: pl.DataFrame) -> None:
        """Add weather forecasts as they are issued (a repeated key is a correction)."""
        with self._lock:
            if self._reads_forecasts:
                self._note(frame["issued_at"])
            fc = pl.concat(
                [
                    self._tables.weather_forecasts,
                    frame.select(self._tables.weather_forecasts.columns),
                ]
            )
            fc = fc.unique(subset=list(KEYS["weather_forecasts"]), keep="last", maintain_order=True)
            latest = _latest(fc["issued_at"])
            if latest is not None:  # keep the issues a feature could still read
                fc = fc.filter(pl.col("valid_at") >= latest - self.window)
            self._tables = replace(self._tables, weather_forecasts=fc)

    def _trimmed(self, tables: CityTables) -> CityTables:
        """Drop what lies more than the window before the latest reading. Readings set the
        window's end, not events: a feed of events stamped ahead of the readings (a holiday
        declared, a replay's calls) must not trim away the readings the forecast needs."""
        latest = _latest(tables.observations["ts"]) or _latest(tables.events["ts"])
        if latest is None:
            return tables
        since = latest - self.window
        kept = pl.lit(False)
        for window, ids in self._kept.items():
            mine = pl.col("series_id").is_in(ids.implode())
            kept = kept | (mine & (pl.col("ts") >= latest - window))
        return replace(
            tables,
            observations=tables.observations.filter(kept),
            events=tables.events.filter(pl.col("ts") >= since),
        )

    def latest(self) -> tuple[TaskTables, datetime] | None:
        """The window as the task reads it, its event feeds live up to the latest grid time
        holding a target value, and that time (the origin to score from); None before any
        data arrives."""
        try:
            tables = task_tables(self._tables, self.task, live_until=LATEST)
        except DataError:
            return None
        return tables, data_end(tables)

    def features_at(self, origin: datetime, *, spec: FeatureSpec | None = None) -> pl.DataFrame:
        """Features at ``origin``, the event feeds live up to it."""
        tables = task_tables(self._tables, self.task, live_until=origin)
        return build_features(tables, [origin], with_target=False, spec=spec)


def _latest(*stamps: pl.Series) -> datetime | None:
    """The latest time stamp in any of the series; None when all are empty."""
    found = [t for s in stamps if isinstance(t := s.max(), datetime)]
    return max(found, default=None)
