"""Online scoring of one task: recent data in memory, the champion model, a risk snapshot.

Serving never re-implements a feature: it calls ``features.pipeline.build_features`` on its
in-memory window of the canonical tables at the latest grid time, with the model's own feature
spec, exactly as training did in batch.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl

from alerts import Assessment, LevelRule
from features import (
    CityTables,
    TargetHistory,
    TaskConfig,
    TaskTables,
    build_features,
    target_history,
    warning_memory,
    warning_thresholds,
)
from models import with_exceedance
from serving.online import OnlineState
from training import CitybrainModel, WarningRules

log = logging.getLogger(__name__)


@dataclass
class Snapshot:
    """The latest forecasts of a task: one row per target and horizon, plus a summary."""

    origin: datetime
    forecasts: pl.DataFrame
    summary: pl.DataFrame
    scored_at: datetime
    made: pl.DataFrame | None = None
    """Every forecast computed for this snapshot, all origins (kept for the surge rule)."""


class TaskScorer:
    """Holds one task's champion and its recent data; rescoring is cheap and thread-safe."""

    def __init__(
        self,
        model: CitybrainModel,
        version: str,
        tables: CityTables,
        *,
        current: TaskConfig | None = None,
    ) -> None:
        """``current``: the task config as it stands now, whose warning levels' action texts
        the messages use (the model keeps the config it was trained with)."""
        self.model, self.version = model, version
        self.task, self.spec = model.task, model.spec
        self.state = OnlineState(self.task, tables, model.history_span, model.history_covariates)
        self.rules = WarningRules(self.task, texts=current)
        self.unit = self.rules.unit
        self.snapshot: Snapshot | None = None
        self._labels: dict[str, str] = {}
        self._labels_en: dict[str, str] = {}
        self._made: dict[datetime, pl.DataFrame] = {}  # forecasts made, by origin

    @staticmethod
    def _target_labels(tables: TaskTables) -> tuple[dict[str, str], dict[str, str]]:
        """Each target's label for people, in Chinese and in English: its district and place
        (a hotline category by its name; the series id only where nothing names it)."""
        names = tables.areas.select("area_id", "name_zh", pl.col("name").alias("name_en"))
        rows = tables.targets.join(names, on="area_id", how="left").iter_rows(named=True)
        zh, en = {}, {}
        for r in rows:
            attrs = json.loads(r["attrs"] or "{}")
            sid = r["series_id"]
            place_zh = attrs.get("name_zh") or attrs.get("name") or sid
            place_en = attrs.get("name") or sid
            zh[sid] = " ".join(x for x in (r["name_zh"], place_zh) if x)
            en[sid] = " ".join(x for x in (r["name_en"], place_en) if x)
        return zh, en

    @property
    def tables(self) -> CityTables:
        return self.state.tables

    def score(self, now: datetime) -> Snapshot | None:
        """Forecast every target from the latest grid time with data and keep it as the
        current snapshot; None without data."""
        snap = self.compute(self.state, now)
        if snap is not None:
            self._keep(snap)
            self.snapshot = snap
        return snap

    def commit(self, state: OnlineState, snap: Snapshot | None) -> None:
        """Take a state tried with :meth:`compute` (and its snapshot) as the current one."""
        self.state = state
        if snap is not None:
            self._keep(snap)
            self.snapshot = snap

    def _keep(self, snap: Snapshot) -> None:
        """Remember the forecasts a served snapshot made, per origin, as long as the
        unforecast-surge rule reads them back."""
        if snap.made is None or not self.rules.unforecast_hours:
            return
        for (origin,), rows in snap.made.partition_by("origin", as_dict=True).items():
            self._made[origin] = rows
        horizon = snap.origin - self.rules.unforecast_hours * self.task.step
        self._made = {o: f for o, f in self._made.items() if o >= horizon}

    def compute(self, state: OnlineState, now: datetime) -> Snapshot | None:
        """The snapshot of ``state`` (this scorer's own, or a copy with rows to try), without
        keeping it; None without data.

        A post that neither moves the origin nor carries anything at or before it (the rest
        of the hour, for an hourly task) cannot change the forecast, so the last snapshot is
        returned rather than computed again; one that carries nothing the task reads, or no
        target's row and nothing at or before the origin, returns it without finding the
        origin."""
        changed, targets_added = state.take_changes()
        last = self.snapshot
        # nothing added at or before the last origin: features there read the same data
        same_inputs = last is not None and (changed is None or changed > last.origin)
        if same_inputs and not targets_added:
            return last  # no target's row either, which alone could move the origin
        now_state = state.latest()
        if now_state is None:
            return None
        if same_inputs and last is not None and now_state[1] == last.origin:
            return last
        # the task's count series (12345 tickets) and targets, derived once: features, history,
        # labels and the latest values all read them
        tables, origin = now_state
        self._labels, self._labels_en = self._target_labels(tables)
        # an unforecast surge compares the last grid times' counts with the forecasts made for
        # them: those this scorer made and kept are read back, any other (after a start) is
        # forecast again from the window
        back = [origin - k * self.task.step for k in range(self.rules.unforecast_hours, 0, -1)]
        kept = [self._made[o] for o in back if o in self._made]
        wanted = [o for o in back if o not in self._made] + [origin]
        frame = build_features(tables, wanted, with_target=False, spec=self.spec)
        span = self.model.history_span
        history = (
            target_history(
                tables,
                origin - span - (len(wanted) - 1) * self.task.step,
                origin,
                covariates=self.model.history_covariates,
            )
            if span is not None
            else None
        )
        made = self.model.predict_frame(frame, history)
        made = made.join(frame.select("series_id", "area_id").unique(), on="series_id", how="left")
        every = pl.concat([*kept, made], how="vertical_relaxed") if kept else made
        fc = every.filter(pl.col("origin") == origin)
        if self.task.warning is not None:
            fc = with_exceedance(fc, self.task, self._thresholds(fc, tables, origin, history))
        targets = pl.col("series_id").is_in(tables.targets["series_id"].implode())
        latest = (
            tables.observations.filter(targets & (pl.col("ts") <= origin))
            .sort("ts")
            .group_by("series_id")
            .agg(pl.col("value").last().alias("observed"), pl.col("ts").last().alias("observed_ts"))
        )
        summary = self.rules.summary(fc).join(latest, on="series_id", how="left")
        if back:
            outcomes = every.filter(pl.col("origin") < origin).join(
                tables.observations.select("series_id", "ts", pl.col("value").alias("y")),
                on=["series_id", "ts"],
                how="left",
            )
            summary = self.rules.with_unforecast(summary, self.rules.unforecast(outcomes))
        summary = summary.drop("origin")
        return Snapshot(origin=origin, forecasts=fc, summary=summary, scored_at=now, made=made)

    def _thresholds(
        self,
        forecast: pl.DataFrame,
        tables: TaskTables,
        origin: datetime,
        history: TargetHistory | None,
    ) -> pl.DataFrame:
        """Each target's thresholds at each forecast time, as the backtest reads them; from the
        model's history where it reaches back far enough, else from the window."""
        memory = warning_memory(self.task)
        if memory and (history is None or history.start > origin - memory):
            history = target_history(tables, origin - memory, origin)
        keys = forecast.select("series_id", "origin", "ts")
        return warning_thresholds(keys, self.task, tables.targets, history)

    def rule_for(self, row: dict[str, Any]) -> LevelRule | None:
        """The target's own rule at its peak (None where no level applies to it)."""
        return self.rules.rule_for(row)

    def assessments(self, snap: Snapshot) -> list[Assessment]:
        """One assessment per target the rule grades, for the warning engine."""
        summary = snap.summary.with_columns(pl.lit(snap.origin).alias("origin"))
        return self.rules.assessments(summary, self._labels, self._labels_en)

    def label(self, series_id: str) -> str | None:
        return self._labels.get(series_id)

    def label_en(self, series_id: str) -> str | None:
        return self._labels_en.get(series_id)
