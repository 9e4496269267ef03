"""Online scoring of one task: recent data in memory, the champion model, a risk snapshot.

Serving never re-implements a feature: it calls ``features.pipeline.build_features`` on its
in-memory window of the canonical tables at the latest grid time, with the model's own feature
spec, exactly as training did in batch.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from alerts import Assessment, Level, LevelRule
from features import (
    SIGNALS,
    CityTables,
    ConfigError,
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
from training import CitybrainModel

log = logging.getLogger(__name__)


def target_unit(task: TaskConfig) -> str:
    """The unit people read the target in: the signal's, with counts per grid step
    (``tickets/h``)."""
    sig = SIGNALS.get(task.target.signal)
    if sig is None:
        return ""
    if sig.unit == "count":
        per = {timedelta(hours=1): "h", timedelta(days=1): "d"}.get(task.step)
        return f"tickets/{per}" if per else "count"
    return sig.unit


@dataclass
class Snapshot:
    """The latest forecasts of a task: one row per target and horizon, plus a summary."""

    origin: datetime
    forecasts: pl.DataFrame
    summary: pl.DataFrame
    scored_at: datetime


class TaskScorer:
    """Holds one task's champion and its recent data; rescoring is cheap and thread-safe."""

    def __init__(self, model: CitybrainModel, version: str, tables: CityTables) -> None:
        self.model, self.version = model, version
        self.task, self.spec = model.task, model.spec
        self.state = OnlineState(self.task, tables, model.history_span)
        self.unit = target_unit(self.task)
        self.snapshot: Snapshot | None = None
        self._labels: dict[str, str] = {}

    @staticmethod
    def _target_labels(tables: TaskTables) -> dict[str, str]:
        """Each target's label for people: its district and place, in Chinese."""
        names = tables.areas.select("area_id", "name_zh")
        rows = tables.targets.join(names, on="area_id", how="left").iter_rows(named=True)
        out = {}
        for r in rows:
            attrs = json.loads(r["attrs"] or "{}")
            place = attrs.get("name_zh") or attrs.get("name") or r["series_id"]
            out[r["series_id"]] = " ".join(x for x in (r["name_zh"], place) if x)
        return out

    @property
    def tables(self) -> CityTables:
        return self.state.tables

    def score(self, now: datetime) -> Snapshot | None:
        """Forecast every target from the latest grid time with data; None without data."""
        now_state = self.state.latest()
        if now_state is None:
            return None
        # the task's count series (12345 tickets) and targets, derived once: features, history,
        # labels and the latest values all read them
        tables, origin = now_state
        self._labels = self._target_labels(tables)
        frame = build_features(tables, [origin], with_target=False, spec=self.spec)
        span = self.model.history_span
        history = (
            target_history(
                tables,
                origin - span,
                origin,
                covariates=self.model.history_covariates,
            )
            if span is not None
            else None
        )
        fc = self.model.predict_frame(frame, history)
        fc = fc.join(frame.select("series_id", "area_id").unique(), on="series_id", how="left")
        if self.task.warning is not None:
            fc = with_exceedance(fc, self.task, self._thresholds(fc, tables, origin, history))
        latest = (
            tables.observations.filter(pl.col("ts") <= origin)
            .sort("ts")
            .group_by("series_id")
            .agg(pl.col("value").last().alias("observed"), pl.col("ts").last().alias("observed_ts"))
        )
        pcols = [c for c in fc.columns if c.startswith("p_")]
        tcols = [c for c in fc.columns if c.startswith("t_")]
        # the peak is the worst of the path: the highest depth or count, the lowest speed
        worst = pl.col("yhat").sort(descending=not self._below)
        at_peak = {"descending": not self._below}
        summary = (
            fc.sort("series_id", "horizon")
            .group_by("series_id", maintain_order=True)
            .agg(
                pl.col("area_id").first(),
                *(pl.col(c).max() for c in pcols),
                *(pl.col(c).sort_by("yhat", **at_peak).first() for c in tcols),
                worst.first().alias("peak_value"),
                pl.col("ts").sort_by("yhat", **at_peak).first().alias("peak_ts"),
            )
            .join(latest, on="series_id", how="left")
        )
        snap = Snapshot(origin=origin, forecasts=fc, summary=summary, scored_at=now)
        self.snapshot = snap
        return snap

    @property
    def _below(self) -> bool:
        return self.task.warning is not None and self.task.warning.direction == "below"

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
        """The target's own rule: the task's probability and hysteresis, the target's
        thresholds at its peak (None where no level applies to it)."""
        warning = self.task.warning
        if warning is None:
            return None
        thresholds = {
            Level.parse(lv.level): row[f"t_{lv.level}"]
            for lv in warning.levels
            if row.get(f"t_{lv.level}") is not None
        }
        if not thresholds:
            return None
        try:
            return LevelRule(
                thresholds,
                direction=warning.direction,
                probability=warning.probability,
                clear_margin=warning.clear_margin,
                unit=self.unit,
                hold=warning.hold,
                quiet=warning.quiet,
            )
        except ConfigError as err:
            log.warning("%s: %s not graded: %s", self.task.name, row["series_id"], err)
            return None

    def assessments(self, snap: Snapshot) -> list[Assessment]:
        """One assessment per target the rule grades, for the warning engine."""
        out = []
        for r in snap.summary.iter_rows(named=True):
            rule = self.rule_for(r)
            if rule is None:
                continue
            probs = {
                Level.parse(c[2:]): float(r[c])
                for c in r
                if c.startswith("p_") and r[c] is not None and Level.parse(c[2:]) in rule.levels
            }
            out.append(
                Assessment(
                    domain=self.task.domain,
                    series_id=r["series_id"],
                    area_id=r["area_id"],
                    origin=snap.origin,
                    probabilities=probs,
                    peak_value=float(r["peak_value"]),
                    peak_ts=r["peak_ts"],
                    unit=self.unit,
                    rule=rule,
                    label=self._labels.get(r["series_id"]),
                    observed=None if r["observed"] is None else float(r["observed"]),
                )
            )
        return out

    def label(self, series_id: str) -> str | None:
        return self._labels.get(series_id)
