"""Forecast metrics, one module used everywhere (backtest, tuning, promotion, benchmarks).

Point: MAE per horizon. Events: a threshold crossing (ponding >= 5 cm) judged two ways,
per forecast (a contingency table over every origin and horizon: probability of detection,
false alarm ratio, critical success index) and per event (each episode of observed exceedance:
was it forecast in advance, and how long before its onset).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import timedelta

import polars as pl


def mae_by_horizon(preds: pl.DataFrame, *, column: str = "yhat") -> pl.DataFrame:
    """``horizon, mae, n`` over rows with an observed target."""
    return (
        preds.filter(pl.col("y").is_not_null())
        .group_by("horizon")
        .agg((pl.col("y") - pl.col(column)).abs().mean().alias("mae"), pl.len().alias("n"))
        .sort("horizon")
    )


def mae(preds: pl.DataFrame, *, column: str = "yhat") -> float:
    rows = preds.filter(pl.col("y").is_not_null())
    if rows.is_empty():
        return float("nan")
    return float(rows.select((pl.col("y") - pl.col(column)).abs().mean()).item())


def interval_coverage(preds: pl.DataFrame, low: str = "q10", high: str = "q90") -> float:
    """Share of observed targets inside ``[low, high]`` (nominal 80 % for q10-q90)."""
    rows = preds.filter(pl.col("y").is_not_null())
    if rows.is_empty():
        return float("nan")
    inside = (pl.col("y") >= pl.col(low)) & (pl.col("y") <= pl.col(high))
    return float(rows.select(inside.mean()).item())


@dataclass(frozen=True)
class EventSkill:
    threshold: float
    hits: int
    misses: int
    false_alarms: int
    pod: float
    far: float
    csi: float
    events: int
    events_detected: int
    event_pod: float
    median_lead_time_min: float | None

    def to_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


def _ratio(a: int, b: int) -> float:
    return a / b if b else float("nan")


def event_skill(
    preds: pl.DataFrame,
    observed: pl.DataFrame,
    *,
    threshold: float,
    warn: pl.Expr,
    max_lead: timedelta,
) -> EventSkill:
    """Event skill of forecasts judged by ``warn`` (a boolean over a prediction row).

    Args:
        preds: ``series_id, origin, ts, y`` plus whatever ``warn`` reads.
        observed: ``series_id, ts, value`` on the task's grid for the evaluated period; event
            episodes are the runs of ``value >= threshold``.
        warn: when a forecast row counts as a warning (e.g. exceedance probability >= 0.4).
        max_lead: origins earlier than the onset by more than this are not credited.

    An episode counts as detected when some origin at or before its onset (and no more than
    ``max_lead`` before) warned for a time inside the episode; its lead time is onset minus the
    earliest such origin.
    """
    rows = preds.filter(pl.col("y").is_not_null()).with_columns(
        warn.alias("_warn"), (pl.col("y") >= threshold).alias("_obs")
    )
    table = rows.select(
        (pl.col("_warn") & pl.col("_obs")).sum().alias("hits"),
        (~pl.col("_warn") & pl.col("_obs")).sum().alias("misses"),
        (pl.col("_warn") & ~pl.col("_obs")).sum().alias("false_alarms"),
    ).row(0, named=True)
    hits, misses, fa = (int(table[k] or 0) for k in ("hits", "misses", "false_alarms"))

    episodes = _episodes(observed, threshold)
    warned = rows.filter(pl.col("_warn")).select("series_id", "origin", "ts")
    leads: list[float] = []
    if not episodes.is_empty() and not warned.is_empty():
        matched = (
            episodes.join(warned, on="series_id")
            .filter(
                (pl.col("ts") >= pl.col("onset"))
                & (pl.col("ts") <= pl.col("end"))
                & (pl.col("origin") <= pl.col("onset"))
                & (pl.col("origin") >= pl.col("onset") - max_lead)
            )
            .group_by("series_id", "onset")
            .agg(pl.col("origin").min().alias("first_warned"))
            .with_columns(
                (pl.col("onset") - pl.col("first_warned")).dt.total_minutes().alias("lead")
            )
        )
        leads = matched["lead"].cast(pl.Float64).to_list()
    n_events = episodes.height
    detected = len(leads)
    median = float(pl.Series(leads).median()) if leads else None
    return EventSkill(
        threshold=threshold,
        hits=hits,
        misses=misses,
        false_alarms=fa,
        pod=_ratio(hits, hits + misses),
        far=_ratio(fa, hits + fa),
        csi=_ratio(hits, hits + misses + fa),
        events=n_events,
        events_detected=detected,
        event_pod=_ratio(detected, n_events),
        median_lead_time_min=median,
    )


def _episodes(observed: pl.DataFrame, threshold: float) -> pl.DataFrame:
    """``series_id, onset, end``: runs of consecutive grid values at or above the threshold."""
    flagged = observed.sort("series_id", "ts").with_columns(
        (pl.col("value") >= threshold).fill_null(False).alias("_on")
    )
    flagged = flagged.with_columns(
        (pl.col("_on") != pl.col("_on").shift(1).over("series_id"))
        .fill_null(True)
        .cum_sum()
        .over("series_id")
        .alias("_run")
    )
    return (
        flagged.filter(pl.col("_on"))
        .group_by("series_id", "_run")
        .agg(pl.col("ts").min().alias("onset"), pl.col("ts").max().alias("end"))
        .select("series_id", "onset", "end")
        .sort("series_id", "onset")
    )
