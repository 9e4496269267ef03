"""Lead skill: does a warning come before the water, and by how long, at a level and a horizon.

A forecast that follows the water scores a low MAE and a high per-row CSI while warning of
nothing an officer did not already see. This module judges the decision an officer takes at
each origin: *will this target reach the level within the next H?*

- **Per origin** (the contingency): at each origin where the target is *not yet* at the level
  (a warning is for water not yet there), the origin warned when some forecast up to ``H``
  ahead gave the level's probability at least the rule's; the event happened when the observed
  target reached the level at some grid time in ``(origin, origin + H]``. POD, FAR and CSI of
  those pairs.
- **Per episode** (each observed run at the level, at least ``min_duration`` long, with its
  onset inside the evaluated origins): **ahead** when an origin in ``[onset - H, onset)`` warned,
  its lead the onset minus the earliest such origin; **at onset** when no origin warned ahead
  but the first origin at or after the onset (still inside the episode) did, i.e. the warning
  came with the water; otherwise **missed**. The lead distribution (quartiles) of the episodes
  warned ahead, so a median is never read without its spread.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from training.metrics.events import Contingency, _crossed, contingency, ratio
from training.metrics.warnings import _grid_step


@dataclass(frozen=True)
class LeadSkill:
    """One model's lead skill at one level and horizon (see the module docstring)."""

    level: str
    horizon: timedelta
    table: Contingency
    events: int
    ahead: int
    at_onset: int
    leads_min: tuple[float, ...]

    @property
    def pod(self) -> float:
        return self.table.pod

    @property
    def far(self) -> float:
        return self.table.far

    @property
    def csi(self) -> float:
        return self.table.csi

    @property
    def missed(self) -> int:
        return self.events - self.ahead - self.at_onset

    @property
    def median_lead_min(self) -> float | None:
        return float(np.median(self.leads_min)) if self.leads_min else None

    def lead_quartiles(self) -> tuple[float, float, float] | None:
        """25th, 50th and 75th percentile of the leads of the episodes warned ahead."""
        if not self.leads_min:
            return None
        q = np.percentile(self.leads_min, [25, 50, 75])
        return float(q[0]), float(q[1]), float(q[2])

    def to_dict(self) -> dict[str, float | int | None]:
        """Flat numbers for MLflow (no level, horizon or lead list)."""
        t = self.table
        out: dict[str, float | int | None] = {
            "hits": t.hits,
            "misses": t.misses,
            "false_alarms": t.false_alarms,
            "pod": t.pod,
            "far": t.far,
            "csi": t.csi,
            "events": self.events,
            "ahead": self.ahead,
            "at_onset": self.at_onset,
            "missed": self.missed,
        }
        out["event_ahead_share"] = ratio(self.ahead, self.events)
        out["median_lead_min"] = self.median_lead_min
        return out


def lead_skill(
    preds: pl.DataFrame,
    observed: pl.DataFrame,
    *,
    level: str,
    horizons: Sequence[timedelta],
    probability: float,
    below: bool = False,
    min_duration: timedelta = timedelta(0),
) -> list[LeadSkill]:
    """Lead skill of one model's forecasts at one level, for each horizon ``H`` in ``horizons``.

    Args:
        preds: ``series_id, origin, ts, horizon`` and ``p_<level>`` (null: the level does not
            apply to the row, or the model gave no forecast: no warning).
        observed: ``series_id, ts, value, t_<level>`` on the task's grid over the evaluated
            period and at least the longest horizon past its last origin.
        probability: the rule's probability a level needs to warn.
        below: the event is a value below its threshold (a speed).
        min_duration: the shortest observed run that is an event (the rule's ``min_event``).
    """
    p, t = f"p_{level}", f"t_{level}"
    grid = _grid(observed, t, below)
    step = _grid_step(grid)
    origins = (
        preds.filter(pl.col(t).is_not_null())
        .select("series_id", "origin")
        .unique()
        .join(
            grid.select("series_id", pl.col("ts").alias("origin"), "_on", "_cum"),
            on=["series_id", "origin"],
            how="inner",
        )
    )
    if origins.is_empty():
        return [_empty(level, h) for h in horizons]
    stride = _grid_step(origins.select(pl.col("origin").alias("ts")))
    first, last = origins["origin"].min(), origins["origin"].max()
    assert isinstance(first, datetime) and isinstance(last, datetime)
    episodes = _episodes(grid, step, min_duration).filter(
        (pl.col("onset") > first) & (pl.col("onset") <= last + stride)
    )
    out = []
    for horizon in horizons:
        warned = (
            preds.filter(pl.col("horizon") <= horizon)
            .group_by("series_id", "origin")
            .agg((pl.col(p).fill_null(0.0) >= probability).any().alias("_warn"))
        )
        ahead_at = grid.select(
            "series_id", (pl.col("ts") - horizon).alias("origin"), pl.col("_cum").alias("_cum_h")
        )
        pairs = (
            origins.join(warned, on=["series_id", "origin"], how="left")
            .join(ahead_at, on=["series_id", "origin"], how="left")
            .with_columns(pl.col("_warn").fill_null(False))
        )
        # origins not yet at the level whose next H is observed
        open_pairs = pairs.filter(~pl.col("_on") & pl.col("_cum_h").is_not_null())
        table = contingency(open_pairs["_warn"], open_pairs["_cum_h"] > open_pairs["_cum"])
        leads, at_onset = _episode_leads(episodes, pairs, horizon, stride)
        out.append(
            LeadSkill(
                level=level,
                horizon=horizon,
                table=table,
                events=episodes.height,
                ahead=len(leads),
                at_onset=at_onset,
                leads_min=tuple(sorted(leads)),
            )
        )
    return out


def _grid(observed: pl.DataFrame, t: str, below: bool) -> pl.DataFrame:
    """``series_id, ts, _on, _cum``: whether each grid time is at the level, and the running
    count of such times per series (so "reached within (a, b]" is ``cum(b) > cum(a)``)."""
    on = _crossed("value", t, below).fill_null(False)
    return (
        observed.select("series_id", "ts", on.alias("_on"))
        .unique(["series_id", "ts"])
        .sort("series_id", "ts")
        .with_columns(pl.col("_on").cast(pl.Int64).cum_sum().over("series_id").alias("_cum"))
    )


def _episodes(grid: pl.DataFrame, step: timedelta, min_duration: timedelta) -> pl.DataFrame:
    """``series_id, onset, end``: runs of consecutive grid times at the level, at least
    ``min_duration`` long (a gap in the grid ends a run)."""
    runs = (
        grid.filter(pl.col("_on"))
        .with_columns(
            ((pl.col("ts").diff().over("series_id") != step).fill_null(True))
            .cum_sum()
            .over("series_id")
            .alias("_run")
        )
        .group_by("series_id", "_run")
        .agg(pl.col("ts").min().alias("onset"), pl.col("ts").max().alias("end"))
    )
    return runs.filter(pl.col("end") - pl.col("onset") + step >= min_duration).select(
        "series_id", "onset", "end"
    )


def _episode_leads(
    episodes: pl.DataFrame, pairs: pl.DataFrame, horizon: timedelta, stride: timedelta
) -> tuple[list[float], int]:
    """Leads (minutes) of the episodes warned ahead, and how many were warned at onset."""
    if episodes.is_empty():
        return [], 0
    warned = pairs.filter(pl.col("_warn")).select("series_id", "origin")
    ahead = (
        episodes.join(warned, on="series_id")
        .filter(
            (pl.col("origin") < pl.col("onset")) & (pl.col("origin") >= pl.col("onset") - horizon)
        )
        .group_by("series_id", "onset")
        .agg(pl.col("origin").min().alias("_first"))
        .with_columns((pl.col("onset") - pl.col("_first")).dt.total_minutes().alias("_lead"))
    )
    late = (
        episodes.join(ahead.select("series_id", "onset"), on=["series_id", "onset"], how="anti")
        .join(warned, on="series_id")
        .filter(
            (pl.col("origin") >= pl.col("onset"))
            & (pl.col("origin") < pl.col("onset") + stride)
            & (pl.col("origin") <= pl.col("end"))
        )
        .select("series_id", "onset")
        .unique()
    )
    return ahead["_lead"].cast(pl.Float64).to_list(), late.height


def _empty(level: str, horizon: timedelta) -> LeadSkill:
    return LeadSkill(level, horizon, Contingency(0, 0, 0, 0), 0, 0, 0, ())
