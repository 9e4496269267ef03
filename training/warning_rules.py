"""From a forecast to the warning engine's input: one code path for the service and the backtest.

A forecast row carries, per target, origin and horizon, the exceedance probability of each
level's threshold (``p_<level>``) and the threshold itself (``t_<level>``). Per target and
origin, the engine reads the worst of the path: each level's highest probability over the
horizons and the peak (the highest depth or count, the lowest speed), with the thresholds as
they stand at the peak. The service builds its assessments here from each live scoring, and the
backtest from every origin it replays, so the skill it reports is the skill of the warnings
duty officers receive.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import polars as pl

from alerts import Assessment, Level, LevelRule
from features import SIGNALS, ConfigError, TaskConfig

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


class WarningRules:
    """A task's warning rule applied to its forecasts: per-target rules and assessments."""

    def __init__(self, task: TaskConfig) -> None:
        self.task = task
        self.unit = target_unit(task)
        self.below = task.warning is not None and task.warning.direction == "below"

    def summary(self, forecast: pl.DataFrame) -> pl.DataFrame:
        """One row per target and origin: ``area_id``, each level's highest probability, the
        thresholds at the peak, ``peak_value`` and ``peak_ts``.

        Args:
            forecast: ``series_id, area_id, origin, ts, horizon, yhat`` with the ``p_`` and
                ``t_`` columns of :func:`models.with_exceedance`.
        """
        pcols = [c for c in forecast.columns if c.startswith("p_")]
        tcols = [c for c in forecast.columns if c.startswith("t_")]
        at_peak = {"descending": not self.below}
        return (
            forecast.sort("series_id", "origin", "horizon")
            .group_by("series_id", "origin", maintain_order=True)
            .agg(
                pl.col("area_id").first(),
                *(pl.col(c).max() for c in pcols),
                *(pl.col(c).sort_by("yhat", **at_peak).first() for c in tcols),
                pl.col("yhat").sort(descending=not self.below).first().alias("peak_value"),
                pl.col("ts").sort_by("yhat", **at_peak).first().alias("peak_ts"),
            )
        )

    def rule_for(self, row: Mapping[str, Any]) -> LevelRule | None:
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

    def assessments(
        self, summary: pl.DataFrame, labels: Mapping[str, str] | None = None
    ) -> list[Assessment]:
        """One assessment per summary row the rule grades (``observed`` is read where the
        summary has it)."""
        labels = labels or {}
        out = []
        for r in summary.iter_rows(named=True):
            rule = self.rule_for(r)
            if rule is None:
                continue
            probs = {
                Level.parse(c[2:]): float(r[c])
                for c in r
                if c.startswith("p_") and r[c] is not None and Level.parse(c[2:]) in rule.levels
            }
            observed = r.get("observed")
            out.append(
                Assessment(
                    domain=self.task.domain,
                    series_id=r["series_id"],
                    area_id=r["area_id"],
                    origin=r["origin"],
                    probabilities=probs,
                    peak_value=float(r["peak_value"]),
                    peak_ts=r["peak_ts"],
                    unit=self.unit,
                    rule=rule,
                    label=labels.get(r["series_id"]),
                    observed=None if observed is None else float(observed),
                )
            )
        return out
