"""The served champions: one :class:`TaskScorer` per domain, loaded and rescored together.

Routes read the current set (``get`` answers 404 for a domain nothing serves); a reload
replaces it as a whole, so a request sees either the old champions or the new ones. Rescoring
hands every scorer's assessments to the warning engine and, when warnings changed, tells the
dispatcher (``on_changes``) so deliveries do not wait for its next pass.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

import polars as pl

from alerts import WarningChange, WarningEngine
from features import CitybrainError, CityTables, NotFoundError, Store, load_task
from serving.clock import ServiceClock
from serving.online import online_window
from serving.scoring import TaskScorer
from serving.settings import Settings
from training import load_champion

log = logging.getLogger(__name__)


class Scorers:
    """The champions of the configured tasks, keyed by domain; empty until :meth:`load`."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        engine: WarningEngine,
        *,
        on_changes: Callable[[], None] = lambda: None,
    ) -> None:
        self._settings, self._store, self._engine = settings, store, engine
        self._on_changes = on_changes
        self._scorers: dict[str, TaskScorer] = {}
        self._problems: dict[str, str] = {}
        self._catalog = store.read("series")
        self.clock = ServiceClock()

    @property
    def by_domain(self) -> Mapping[str, TaskScorer]:
        return self._scorers

    @property
    def problems(self) -> Mapping[str, str]:
        """Task name -> why it is not served (no champion yet, a bad config, ...)."""
        return self._problems

    @property
    def catalog(self) -> pl.DataFrame:
        """The series catalog as of the last load: live observations are validated against it,
        so a series added to the store is accepted once the models are reloaded."""
        return self._catalog

    def get(self, domain: str) -> TaskScorer:
        """The scorer serving ``domain``.

        Raises:
            NotFoundError: naming the served domains, so a client sees what it may ask for.
        """
        if domain not in self._scorers:
            served = ", ".join(sorted(self._scorers)) or "none"
            raise NotFoundError(f"no model serves domain {domain!r}; served domains: {served}")
        return self._scorers[domain]

    def load(self) -> None:
        """(Re)load every configured task's champion; a task without one is reported, not fatal."""
        self._catalog = self._store.read("series")
        scorers, problems = {}, {}
        for name in self._settings.task_names:
            try:
                task = load_task(name)
                model, version = load_champion(self._settings.tracking(), task.name)
                tables = self._window(online_window(model.task, model.history_span))
                scorers[task.domain] = TaskScorer(model, version, tables)
            except CitybrainError as err:
                problems[name] = str(err)
                log.warning("task %s not served: %s", name, err)
        self._scorers, self._problems = scorers, problems

    def _window(self, span: timedelta) -> CityTables:
        last = self._store.scan("observations").select(pl.col("ts").max()).collect().item()
        since = None if last is None else last - span
        return CityTables.from_store(self._store, since=since)

    def rescore(self) -> list[WarningChange]:
        """Score every domain from its latest data and let the engine open, move or close
        warnings; returns the changes."""
        wall = datetime.now(UTC)
        snaps = [(s, s.score(wall)) for s in self._scorers.values()]
        for _, snap in snaps:
            if snap is not None:
                self.clock.observe(snap.origin)
        # the engine runs in the data's time, as the backtest replays it (serving.clock)
        now = self.clock.now()
        changes: list[WarningChange] = []
        for scorer, snap in snaps:
            if snap is not None:
                changes += self._engine.evaluate(scorer.assessments(snap), now)
        if changes:
            self._on_changes()
        return changes
