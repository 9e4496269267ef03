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
import math
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import polars as pl

from alerts import Assessment, Level, LevelRule
from features import SIGNALS, ConfigError, TaskConfig
from models import quantile_column

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

    def __init__(self, task: TaskConfig, *, texts: TaskConfig | None = None) -> None:
        """``texts``: the task config as it stands now, whose levels' ``action`` texts are
        used (officers' instructions change without retraining); default ``task``'s own."""
        self.task = task
        self.unit = target_unit(task)
        self.below = task.warning is not None and task.warning.direction == "below"
        # each level of the rule with its threshold column, parsed once (a backtest's replay
        # grades hundreds of thousands of rows)
        levels = task.warning.levels if task.warning is not None else []
        self._levels = [(Level.parse(lv.level), f"t_{lv.level}") for lv in levels]
        worded = texts.warning.levels if texts is not None and texts.warning is not None else levels
        self._actions = {
            Level.parse(lv.level): (lv.action.zh, lv.action.en)
            for lv in worded
            if lv.action is not None
        }
        # the bad end of the forecast's 10-90 % band (the dashboard's): the quantile nearest
        # 0.9, or 0.1 where low is bad
        end = 0.1 if self.below else 0.9
        self._band = quantile_column(min(task.quantiles, key=lambda q: abs(q - end)))

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
        needed = self.task.warning.probability if self.task.warning is not None else 0.5
        # when each level is reached: its probability first at the rule's, else at its highest
        reached = [
            pl.coalesce(
                pl.col("ts").filter(pl.col(c) >= needed).first(),
                pl.col("ts").sort_by(c, descending=True).first(),
            ).alias(f"at_{c[2:]}")
            for c in pcols
        ]
        band = []
        if self._band in forecast.columns:
            worst = pl.col(self._band).min() if self.below else pl.col(self._band).max()
            band = [worst.alias("high_value")]
        return (
            forecast.sort("series_id", "origin", "horizon")
            .group_by("series_id", "origin", maintain_order=True)
            .agg(
                pl.col("area_id").first(),
                *(pl.col(c).max() for c in pcols),
                *(pl.col(c).sort_by("yhat", **at_peak).first() for c in tcols),
                pl.col("yhat").sort(descending=not self.below).first().alias("peak_value"),
                pl.col("ts").sort_by("yhat", **at_peak).first().alias("peak_ts"),
                *reached,
                *band,
            )
        )

    @property
    def unforecast_hours(self) -> int:
        """How many grid times in a row an observed count must stand above the forecasts'
        upper bound to warn as an unforecast surge (0: the rule reads none)."""
        warning = self.task.warning
        if warning is None or warning.kind != "surge":
            return 0
        return warning.surge_norm.unforecast_hours

    def unforecast(self, outcomes: pl.DataFrame) -> pl.DataFrame:
        """``series_id, ts, observed, unforecast_bound, unforecast_hours``: each grid time at
        which the observed count has stood above the upper quantile of the latest forecast
        made for it (issued before it) for at least the rule's number of grid times in a row.

        Args:
            outcomes: ``series_id, origin, ts, y`` and the quantile column of forecasts whose
                outcome ``y`` is known (null ``y`` rows are ignored).
        """
        hours = self.unforecast_hours
        schema = {
            "series_id": pl.String(),
            "ts": pl.Datetime("us", "UTC"),
            "observed": pl.Float64(),
            "unforecast_bound": pl.Float64(),
            "unforecast_hours": pl.Int64(),
        }
        if not hours:
            return pl.DataFrame(schema=schema)
        assert self.task.warning is not None
        bound = quantile_column(self.task.warning.surge_norm.unforecast_quantile)
        latest = (
            outcomes.filter(pl.col("y").is_not_null() & (pl.col("origin") < pl.col("ts")))
            .sort("series_id", "ts", "origin")
            .group_by("series_id", "ts", maintain_order=True)
            .agg(pl.col("y").last(), pl.col(bound).last())
            .with_columns((pl.col("y") > pl.col(bound)).alias("_above"))
        )
        # runs of grid times above the bound, broken by a time below it or a missing one
        new_run = (pl.col("_above") != pl.col("_above").shift(1)) | (
            pl.col("ts").diff() != pl.lit(self.task.step)
        )
        return (
            latest.with_columns(new_run.fill_null(True).cum_sum().over("series_id").alias("_run"))
            .with_columns(pl.int_range(1, pl.len() + 1).over("series_id", "_run").alias("_n"))
            .filter(pl.col("_above") & (pl.col("_n") >= hours))
            .select(
                "series_id",
                "ts",
                pl.col("y").cast(pl.Float64).alias("observed"),
                pl.col(bound).cast(pl.Float64).alias("unforecast_bound"),
                pl.col("_n").cast(pl.Int64).alias("unforecast_hours"),
            )
        )

    @staticmethod
    def with_unforecast(summary: pl.DataFrame, surges: pl.DataFrame) -> pl.DataFrame:
        """The summary with each target's unforecast surge at its origin (null where none)."""
        found = surges.rename({"ts": "origin"})
        if "observed" in summary.columns:
            found = found.drop("observed")
        return summary.join(found, on=["series_id", "origin"], how="left")

    def rule_for(self, row: Mapping[str, Any]) -> LevelRule | None:
        """The target's own rule: the task's probability and hysteresis, the target's
        thresholds at its peak (None where no level applies to it)."""
        warning = self.task.warning
        if warning is None:
            return None
        thresholds = {
            level: row[column] for level, column in self._levels if row.get(column) is not None
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
                actions={lv: a for lv, a in self._actions.items() if lv in thresholds},
            )
        except ConfigError as err:
            log.warning("%s: %s not graded: %s", self.task.name, row["series_id"], err)
            return None

    def assessments(
        self,
        summary: pl.DataFrame,
        labels: Mapping[str, str] | None = None,
        labels_en: Mapping[str, str] | None = None,
    ) -> list[Assessment]:
        """One assessment per summary row the rule grades (``observed``, and an unforecast
        surge's ``unforecast_hours`` and ``unforecast_bound``, are read where the summary has
        them: :meth:`with_unforecast`); ``labels`` and ``labels_en`` name the targets for
        people in Chinese and English."""
        labels, labels_en = labels or {}, labels_en or {}
        out = []
        pcols = [(c, Level.parse(c[2:])) for c in summary.columns if c.startswith("p_")]
        for r in summary.iter_rows(named=True):
            rule = self.rule_for(r)
            if rule is None:
                continue
            probs = {
                level: float(r[c])
                for c, level in pcols
                if r[c] is not None and level in rule.levels
            }
            observed = r.get("observed")
            surged = r.get("unforecast_hours") or 0
            # seen, not forecast: certain at every level the count reached; a count above its
            # forecast but below the lowest level is noise in a quiet series, not a surge
            reached = [
                lv
                for lv in rule.levels
                if surged and observed is not None and float(observed) >= rule.thresholds[lv]
            ]
            probs |= dict.fromkeys(reached, 1.0)
            surged = surged if reached else 0
            high = r.get("high_value")
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
                    unforecast_hours=int(surged),
                    unforecast_bound=r.get("unforecast_bound") if surged else None,
                    label_en=labels_en.get(r["series_id"]),
                    level_ts={
                        level: r[f"at_{c[2:]}"]
                        for c, level in pcols
                        if level in probs and r.get(f"at_{c[2:]}") is not None
                    },
                    high_value=float(high) if high is not None and math.isfinite(high) else None,
                )
            )
        return out
