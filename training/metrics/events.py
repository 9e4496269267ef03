"""Event skill: a threshold crossing (ponding >= 5 cm) judged per forecast and per event.

Per forecast, a :func:`contingency` table over every origin and horizon (probability of
detection, false alarm ratio, critical success index). Per event, each episode of observed
exceedance: was it forecast in advance, and how long before its onset
(:func:`event_skill`). These are the numbers that say whether warnings would have been
useful, which the pooled error metrics cannot.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any, cast

import polars as pl


def ratio(a: int, b: int) -> float:
    """``a / b``, NaN when ``b`` is 0 (no events, no warnings: the ratio is undefined)."""
    return a / b if b else float("nan")


@dataclass(frozen=True)
class Contingency:
    """The 2 x 2 table of warnings against observed events."""

    hits: int
    misses: int
    false_alarms: int
    correct_negatives: int

    @property
    def pod(self) -> float:
        """Probability of detection ``hits / (hits + misses)`` (``nan`` without events)."""
        return ratio(self.hits, self.hits + self.misses)

    @property
    def far(self) -> float:
        """False alarm ratio ``false_alarms / (hits + false_alarms)`` (``nan`` without
        warnings)."""
        return ratio(self.false_alarms, self.hits + self.false_alarms)

    @property
    def csi(self) -> float:
        """Critical success index ``hits / (hits + misses + false_alarms)``."""
        return ratio(self.hits, self.hits + self.misses + self.false_alarms)


def contingency(warn: Any, observed: Any) -> Contingency:
    """Count hits, misses, false alarms and correct negatives of boolean ``warn`` against
    boolean ``observed`` (Polars series, arrays or lists of equal length). A row where either
    is null is counted in no cell."""
    w = warn if isinstance(warn, pl.Series) else pl.Series(list(warn), dtype=pl.Boolean)
    o = observed if isinstance(observed, pl.Series) else pl.Series(list(observed), dtype=pl.Boolean)
    if w.len() != o.len():
        raise ValueError("warn and observed must have the same length")
    frame = pl.DataFrame({"w": w.cast(pl.Boolean), "o": o.cast(pl.Boolean)}).drop_nulls()
    cells = frame.select(
        (pl.col("w") & pl.col("o")).sum().alias("hits"),
        (~pl.col("w") & pl.col("o")).sum().alias("misses"),
        (pl.col("w") & ~pl.col("o")).sum().alias("false_alarms"),
        (~pl.col("w") & ~pl.col("o")).sum().alias("correct_negatives"),
    ).row(0, named=True)
    return Contingency(**{k: int(v or 0) for k, v in cells.items()})


@dataclass(frozen=True)
class EventSkill:
    """Per-forecast contingency and per-episode detection of one event (a threshold crossing).

    ``threshold`` is the event's threshold, or None where each target has its own (a gauge's
    warning level, a count's seasonal norm)."""

    threshold: float | None
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
    # detected episodes warned before their onset (lead > 0); the rest were warned at onset
    events_ahead: int = 0

    @property
    def events_at_onset(self) -> int:
        """Detected episodes whose first warning came at the onset origin (lead 0)."""
        return self.events_detected - self.events_ahead

    def to_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


def event_skill(
    preds: pl.DataFrame,
    observed: pl.DataFrame,
    *,
    threshold: float | str,
    warn: pl.Expr,
    max_lead: timedelta,
    below: bool = False,
) -> EventSkill:
    """Event skill of forecasts judged by ``warn`` (a boolean over a prediction row).

    Args:
        preds: ``series_id, origin, ts, y`` plus whatever ``warn`` reads.
        observed: ``series_id, ts, value`` on the task's grid for the evaluated period; event
            episodes are the runs of ``value >= threshold``.
        threshold: the event's threshold, or the name of a column of both frames holding each
            row's own (null: no event possible there).
        warn: when a forecast row counts as a warning (e.g. exceedance probability >= 0.4).
        max_lead: origins earlier than the onset by more than this are not credited.
        below: the event is a value below the threshold (a speed), not at or above it.

    Per forecast: :func:`contingency` of ``warn`` against ``y >= threshold`` (``y <
    threshold`` with ``below``) over the rows with an observed target. Per event: an episode
    counts as detected when some origin at or before its onset (and no more than ``max_lead``
    before) warned for a time inside the episode; its lead time is onset minus the earliest
    such origin. ``events_ahead`` counts the detected ones warned before the onset: a warning
    at the onset origin is a hit, but it came with the water.
    """
    rows = preds.filter(pl.col("y").is_not_null()).with_columns(
        warn.alias("_warn"), _crossed("y", threshold, below).alias("_obs")
    )
    table = contingency(rows["_warn"], rows["_obs"])

    episodes = _episodes(observed, threshold, below)
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
    # the median of a Float64 series is a float (polars types it as any literal)
    median = float(cast(float, pl.Series(leads).median())) if leads else None
    return EventSkill(
        threshold=threshold if isinstance(threshold, float | int) else None,
        hits=table.hits,
        misses=table.misses,
        false_alarms=table.false_alarms,
        pod=table.pod,
        far=table.far,
        csi=table.csi,
        events=n_events,
        events_detected=detected,
        event_pod=ratio(detected, n_events),
        median_lead_time_min=median,
        events_ahead=sum(lead > 0 for lead in leads),
    )


def _crossed(column: str, threshold: float | str, below: bool) -> pl.Expr:
    bound = pl.col(threshold) if isinstance(threshold, str) else pl.lit(threshold)
    return pl.col(column) < bound if below else pl.col(column) >= bound


def _episodes(observed: pl.DataFrame, threshold: float | str, below: bool) -> pl.DataFrame:
    """``series_id, onset, end``: runs of consecutive grid values on the event's side of the
    threshold."""
    flagged = observed.sort("series_id", "ts").with_columns(
        _crossed("value", threshold, below).fill_null(False).alias("_on")
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
