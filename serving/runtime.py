"""The running service: store, champions, online scorers, ledger, engine and dispatcher.

Built once in the app's lifespan (never at import). Live observations are validated with the
same code as file ingest, persisted to the store before they are acknowledged, added to every
scorer's window, and trigger a rescore; warning changes go through the ledger's outbox to the
configured channels on a background thread.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from alerts import Dispatcher, Ledger, WarningChange, WarningEngine, WebhookChannel
from features import (
    CitybrainError,
    CityTables,
    MergeCounts,
    NotFoundError,
    Store,
    load_task,
    merge,
    validate,
)
from serving.online import online_window
from serving.scoring import Snapshot, TaskScorer
from serving.settings import Settings
from training import load_champion

log = logging.getLogger(__name__)


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = Store(settings.data_dir)
        self.ledger = Ledger(settings.ledger)
        channels = {
            ("webhook" if i == 0 else f"webhook-{i + 1}"): WebhookChannel(
                url,
                max_attempts=settings.webhook_max_attempts,
                backoff_s=settings.webhook_backoff_s,
            )
            for i, url in enumerate(settings.webhooks)
        }
        self.engine = WarningEngine(self.ledger, channels=tuple(channels))
        self.dispatcher = Dispatcher(self.ledger, channels)
        self.scorers: dict[str, TaskScorer] = {}
        self.problems: dict[str, str] = {}
        self.catalog = self.store.read("series")
        self._stop = threading.Event()
        self._kick = threading.Event()
        self._thread: threading.Thread | None = None
        self._write_lock = threading.Lock()

    # -- models -------------------------------------------------------------------------
    def load_models(self) -> None:
        """(Re)load every configured task's champion; a task without one is reported, not fatal."""
        self.catalog = self.store.read("series")
        scorers, problems = {}, {}
        for name in self.settings.task_names:
            try:
                task = load_task(name)
                model, version = load_champion(self.settings.tracking(), task.name)
                tables = self._window(online_window(model.task, model.history_span))
                scorers[task.domain] = TaskScorer(model, version, tables)
            except CitybrainError as err:
                problems[name] = str(err)
                log.warning("task %s not served: %s", name, err)
        self.scorers, self.problems = scorers, problems

    def _window(self, span: timedelta) -> CityTables:
        last = self.store.scan("observations").select(pl.col("ts").max()).collect().item()
        since = None if last is None else last - span
        return CityTables.from_store(self.store, since=since)

    def scorer(self, domain: str) -> TaskScorer:
        if domain not in self.scorers:
            served = ", ".join(sorted(self.scorers)) or "none"
            raise NotFoundError(f"no model serves domain {domain!r}; served domains: {served}")
        return self.scorers[domain]

    # -- scoring and warnings -----------------------------------------------------------
    def rescore(self) -> list[WarningChange]:
        now = datetime.now(UTC)
        changes: list[WarningChange] = []
        for scorer in self.scorers.values():
            snap: Snapshot | None = scorer.score(now)
            if snap is not None:
                changes += self.engine.evaluate(scorer.assessments(snap), now)
        if changes:
            self._kick.set()
        return changes

    def post_rows(self, table: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
        """Live rows of a time-stamped table (observations, events, weather forecasts):
        validated like a file, persisted before they are acknowledged, added to every online
        state, then everything is rescored. All or nothing."""
        frame = pl.DataFrame(rows, strict=False)
        catalog = self.store.read("areas") if table == "events" else self.catalog
        valid = validate(table, frame, source="request body", catalog=catalog)
        with self._write_lock:
            counts: MergeCounts = merge(self.store, table, valid)
        for scorer in self.scorers.values():
            if table == "observations":
                scorer.state.add_observations(valid)
            elif table == "events":
                scorer.state.add_events(valid)
            else:
                scorer.state.add_forecasts(valid)
        changes = self.rescore()
        return {
            "accepted": valid.height,
            "inserted": counts.inserted,
            "updated": counts.updated,
            "unchanged": counts.unchanged,
            "warning_changes": len(changes),
        }

    # -- delivery -----------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._dispatch_loop, name="dispatcher", daemon=True)
        self._thread.start()

    def _dispatch_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.dispatcher.dispatch_due()
            except Exception:
                log.exception("dispatch pass failed")
            self._kick.wait(self.settings.dispatch_interval_s)
            self._kick.clear()

    def stop(self) -> None:
        self._stop.set()
        self._kick.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.ledger.dispose()
