"""Online scoring of one task: recent data in memory, the champion model, a risk snapshot.

Serving never re-implements a feature: it calls ``features.pipeline.build_features`` on its
in-memory window of the canonical tables at the latest grid time, with the model's own feature
spec, exactly as training did in batch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import polars as pl

from alerts import Assessment, Level, LevelRule
from features import SIGNALS, CityTables, TaskTables, build_features, target_history
from models import with_exceedance
from serving.online import OnlineState
from training import CitybrainModel


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
        self.rule = (
            LevelRule.from_spec(self.task.warning, unit=self._unit()) if self.task.warning else None
        )
        self.snapshot: Snapshot | None = None
        self._labels: dict[str, str] = {}

    def _unit(self) -> str:
        sig = SIGNALS.get(self.task.target.signal)
        return sig.unit if sig else ""

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
        fc = with_exceedance(fc, self.task)
        latest = (
            tables.observations.filter(pl.col("ts") <= origin)
            .sort("ts")
            .group_by("series_id")
            .agg(pl.col("value").last().alias("observed"), pl.col("ts").last().alias("observed_ts"))
        )
        pcols = [c for c in fc.columns if c.startswith("p_")]
        summary = (
            fc.sort("series_id", "horizon")
            .group_by("series_id", maintain_order=True)
            .agg(
                pl.col("area_id").first(),
                *(pl.col(c).max() for c in pcols),
                pl.col("yhat").max().alias("peak_value"),
                pl.col("ts").sort_by("yhat", descending=True).first().alias("peak_ts"),
            )
            .join(latest, on="series_id", how="left")
        )
        snap = Snapshot(origin=origin, forecasts=fc, summary=summary, scored_at=now)
        self.snapshot = snap
        return snap

    def assessments(self, snap: Snapshot) -> list[Assessment]:
        """One assessment per target for the warning engine."""
        if self.rule is None:
            return []
        out = []
        for r in snap.summary.iter_rows(named=True):
            probs = {Level.parse(c[2:]): float(r[c]) for c in r if c.startswith("p_")}
            out.append(
                Assessment(
                    domain=self.task.domain,
                    series_id=r["series_id"],
                    area_id=r["area_id"],
                    origin=snap.origin,
                    probabilities=probs,
                    peak_value=float(r["peak_value"]),
                    peak_ts=r["peak_ts"],
                    unit=self.rule.unit,
                    rule=self.rule,
                    label=self._labels.get(r["series_id"]),
                    observed=None if r["observed"] is None else float(r["observed"]),
                )
            )
        return out

    def label(self, series_id: str) -> str | None:
        return self._labels.get(series_id)
