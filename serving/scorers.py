"""The served champions: one :class:`TaskScorer` per domain, loaded and rescored together.

Routes read the current set (``get`` answers 404 for a domain nothing serves); a reload
replaces it as a whole, so a request sees either the old champions or the new ones. Rescoring
hands every scorer's assessments to the warning engine and, when warnings changed, tells the
dispatcher (``on_changes``) so deliveries do not wait for its next pass.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from alerts import PlannedChange, WarningChange, WarningEngine
from features import CitybrainError, CityTables, NotFoundError, Store, TaskConfig, load_task
from serving.clock import ServiceClock
from serving.online import OnlineState, online_window
from serving.scoring import Snapshot, TaskScorer
from serving.settings import Settings
from training import (
    LoadedChampion,
    RegistryUnreachableError,
    champion_version,
    load_champion,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Trial:
    """Candidate states and snapshots per domain, and the seconds each task took to score."""

    states: dict[str, OnlineState]
    snaps: dict[str, Snapshot | None]
    seconds: dict[str, float]


class Scorers:
    """The champions of the configured tasks, keyed by domain; empty until :meth:`load`."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        engine: WarningEngine,
        *,
        on_changes: Callable[[], None] = lambda: None,
        on_scored: Callable[[str, float], None] = lambda task, seconds: None,
    ) -> None:
        self._settings, self._store, self._engine = settings, store, engine
        self._on_changes, self._on_scored = on_changes, on_scored
        self.generation = 0  # counts reloads and swaps: every view rebuilds on a change
        self._generations: dict[str, int] = {}  # per domain, the scorings that changed it
        self._judged: dict[str, Snapshot] = {}  # per domain, the snapshot the engine last saw
        self.lock = threading.RLock()  # one scoring or reload at a time
        self.after_apply: list[Callable[[], None]] = []  # told after each applied scoring
        self._scorers: dict[str, TaskScorer] = {}
        self._problems: dict[str, str] = {}
        self._notices: dict[str, str] = {}
        self._sources: dict[str, str] = {}
        self._cache = settings.home / "model-cache"
        self._catalog = store.read("series")
        self._area_table = store.read("areas")
        self._areas: list[str] = self._area_table["area_id"].to_list()
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

    def areas(self) -> list[str]:
        """The city's area ids (what scenarios may name)."""
        return self._areas

    def place(self, area_id: str) -> tuple[str, str, dict[str, Any] | None]:
        """An area's Chinese and English names and its GeoJSON geometry (the area id and
        none where the areas table does not hold it)."""
        rows = self._area_table.filter(pl.col("area_id") == area_id).to_dicts()
        if not rows:
            return area_id, area_id, None
        row = rows[0]
        geometry = json.loads(row["geometry"]) if row.get("geometry") else None
        return row.get("name_zh") or area_id, row.get("name") or area_id, geometry

    def positions(self, series_ids: Sequence[str]) -> list[tuple[float, float]]:
        """The (lat, lon) of each of the series that the catalog places."""
        found = self._catalog.filter(pl.col("series_id").is_in(list(series_ids)))
        return [
            (float(lat), float(lon))
            for lat, lon in found.select("lat", "lon").iter_rows()
            if lat is not None and lon is not None
        ]

    def generation_of(self, domain: str) -> tuple[int, int]:
        """Changes when the domain's forecasts or levels may have: a reload, or a scoring that
        the warning engine judged for it (:meth:`apply`)."""
        return self.generation, self._generations.get(domain, 0)

    def get(self, domain: str) -> TaskScorer:
        """The scorer serving ``domain``.

        Raises:
            NotFoundError: naming the served domains, so a client sees what it may ask for.
        """
        if domain not in self._scorers:
            served = ", ".join(sorted(self._scorers)) or "none"
            raise NotFoundError(f"no model serves domain {domain!r}; served domains: {served}")
        return self._scorers[domain]

    @property
    def notices(self) -> Mapping[str, str]:
        """Task name -> what an operator should know of how it is served (a model from the
        local copy while the registry is away)."""
        return self._notices

    def source(self, domain: str) -> str:
        """Where the domain's model came from: ``registry`` or ``cache``."""
        return self._sources.get(domain, "registry")

    def load(self) -> None:
        """(Re)load every configured task's champion; a task without one is reported, not
        fatal, and a registry that does not answer leaves the kept copy serving."""
        with self.lock:
            self._catalog = self._store.read("series")
            self._area_table = self._store.read("areas")
            self._areas = self._area_table["area_id"].to_list()
            scorers, problems, notices, sources = {}, {}, {}, {}
            for name in self._settings.task_names:
                try:
                    task = load_task(name)
                    loaded = load_champion(self._settings.tracking(), task.name, cache=self._cache)
                    scorers[task.domain] = self._scorer(loaded, task)
                    sources[task.domain] = "cache" if loaded.cached else "registry"
                    if loaded.cached:
                        notices[name] = _cached_notice(loaded)
                        log.warning("task %s: %s", name, notices[name])
                except CitybrainError as err:
                    problems[name] = str(err)
                    log.warning("task %s not served: %s", name, err)
            self._scorers, self._problems = scorers, problems
            self._notices, self._sources = notices, sources
            self.generation += 1

    def refresh(self) -> list[str]:
        """Serve a new champion of any task without a restart: each is loaded and scored
        beside the one serving, then swapped in whole, so no request fails or sees an empty
        answer. A registry that does not answer leaves what serves serving (and says so).
        Returns the tasks swapped."""
        swapped = []
        for name in self._settings.task_names:
            try:
                task = load_task(name)
                serving = self._scorers.get(task.domain)
                try:
                    version = champion_version(self._settings.tracking(), task.name)
                except RegistryUnreachableError as err:
                    if serving is not None:
                        self._notices = {
                            **self._notices,
                            name: f"{err.message}; still serving version {serving.version}",
                        }
                    continue
                if (
                    serving is not None
                    and serving.version == version
                    and self.source(task.domain) == "registry"
                ):
                    self._notices = {k: v for k, v in self._notices.items() if k != name}
                    continue
                loaded = load_champion(self._settings.tracking(), task.name, cache=self._cache)
                fresh = self._scorer(loaded, task)
                fresh.score(datetime.now(UTC))
            except CitybrainError as err:
                log.warning("task %s: no new champion taken: %s", name, err)
                continue
            with self.lock:
                self._scorers = {**self._scorers, task.domain: fresh}
                self._sources = {
                    **self._sources,
                    task.domain: "cache" if loaded.cached else "registry",
                }
                self._problems = {k: v for k, v in self._problems.items() if k != name}
                self._notices = {k: v for k, v in self._notices.items() if k != name}
                if loaded.cached:
                    self._notices = {**self._notices, name: _cached_notice(loaded)}
                self.generation += 1
            log.warning("task %s: now serving version %s", name, loaded.version)
            swapped.append(name)
        if swapped:
            self.rescore()
        return swapped

    def _scorer(self, loaded: LoadedChampion, task: TaskConfig) -> TaskScorer:
        model = loaded.model
        tables = self._window(online_window(model.task, model.history_span))
        return TaskScorer(model, loaded.version, tables, current=task)

    def _window(self, span: timedelta) -> CityTables:
        last = self._store.scan("observations").select(pl.col("ts").max()).collect().item()
        since = None if last is None else last - span
        return CityTables.from_store(self._store, since=since)

    def rescore(self) -> list[WarningChange]:
        """Score every domain from its latest data and let the engine open, move or close
        warnings; returns the changes."""
        with self.lock:
            return self.apply(self.trial(lambda state: None))

    def trial(self, add: Callable[[OnlineState], None]) -> Trial:
        """Every domain's state with ``add`` applied to a copy, and the forecasts from it;
        nothing served changes until :meth:`apply`. A domain whose rows ``add`` leaves alone
        keeps its snapshot (``TaskScorer.compute``)."""
        wall = datetime.now(UTC)
        states, snaps, seconds = {}, {}, {}
        for domain, scorer in self._scorers.items():
            state = scorer.state.copy()
            add(state)
            start = time.perf_counter()
            states[domain] = state
            snaps[domain] = scorer.compute(state, wall)
            seconds[scorer.task.name] = time.perf_counter() - start
        return Trial(states, snaps, seconds)

    def origin_moves(self, trial: Trial) -> dict[str, tuple[datetime, datetime]]:
        """Domain -> (origin now, origin after the trial), where the trial moves it."""
        moves = {}
        for domain, snap in trial.snaps.items():
            last = self._scorers[domain].snapshot
            if snap is not None and last is not None and snap.origin != last.origin:
                moves[domain] = (last.origin, snap.origin)
        return moves

    def _to_judge(self, trial: Trial) -> list[str]:
        """The domains the warning engine should look at after ``trial``: those with a
        snapshot it has not seen (new forecasts, a new champion), and every one when the trial
        moves the service clock to a new grid time (holds and closes run in the data's time,
        as the backtest judges each origin). A post that changes no forecast and moves no
        origin (12345 tickets within the hour) judges nothing: its warnings stand as they were."""
        fresh = [
            d
            for d, snap in trial.snaps.items()
            if snap is not None and snap is not self._judged.get(d)
        ]
        latest = self.clock.origin
        moves = any(
            snap is not None and (latest is None or snap.origin > latest)
            for snap in trial.snaps.values()
        )
        if moves:
            return [d for d, snap in trial.snaps.items() if snap is not None]
        return fresh

    def preview(self, trial: Trial) -> list[PlannedChange]:
        """The warning changes the trial would make, recorded nowhere."""
        judged = self._to_judge(trial)
        if not judged:
            return []
        assessments = [
            a
            for domain in judged
            for a in self._scorers[domain].assessments(trial.snaps[domain])  # type: ignore[arg-type]
        ]
        origins = [snap.origin for snap in trial.snaps.values() if snap is not None]
        now = max([self.clock.now(), *origins])
        return self._engine.preview(assessments, now)

    def apply(self, trial: Trial) -> list[WarningChange]:
        """Serve the trial's states and forecasts and let the engine open, move or close
        warnings from them; returns the changes. The dispatcher is told before the views are
        rebuilt: a storm's messages do not wait for the dashboard's documents."""
        judged = self._to_judge(trial)
        for domain, state in trial.states.items():
            self._scorers[domain].commit(state, trial.snaps[domain])
        for snap in trial.snaps.values():
            if snap is not None:
                self.clock.observe(snap.origin)
        # the engine runs in the data's time, as the backtest replays it (serving.clock)
        now = self.clock.now()
        changes: list[WarningChange] = []
        for domain in judged:
            snap = trial.snaps[domain]
            assert snap is not None  # _to_judge names only domains with a snapshot
            changes += self._engine.evaluate(self._scorers[domain].assessments(snap), now)
            self._judged[domain] = snap
            self._generations[domain] = self._generations.get(domain, 0) + 1
        for task, seconds in trial.seconds.items():
            self._on_scored(task, seconds)
        if changes:
            self._on_changes()
        for listener in self.after_apply:
            listener()
        return changes


def _cached_notice(loaded: LoadedChampion) -> str:
    return (
        f"serving version {loaded.version} from the local copy: {loaded.why}; the registry is "
        "asked again every CITYBRAIN_CHAMPION_POLL_S seconds"
    )
