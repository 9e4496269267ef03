"""Warning skill: the warnings duty officers would have received, judged against the water.

The unit is what an officer sees: one warning per domain and area (the engine's grouping), at
the worst level of its targets, open from when it reached a level until it fell below it. At
each level, an **event** is an episode of an area having at least one target observed at or
beyond its own threshold for that level (runs less than the quiet period apart are one
episode, as the engine would keep one warning open across them). Per level:

* an event is **detected** when a warning of the area was at that level or above at its onset,
  **ahead** when that warning reached the level before the onset (lead > 0), and **late** when
  it reached the level only during the event;
* a warning span at that level or above is a **false alarm** when no event of its area
  overlaps it;
* an episode shorter than ``min_duration`` (a single implausible reading: a sensor spike) is
  no event; these are counted as **brief**, so nothing is dropped unsaid;
* the **warned share** is the fraction of the areas' time spent under a warning at that level
  or above: a warning that never closes detects every event, and this says what it cost;
* a **flap** is a span that starts within the quiet period after the previous one in the same
  area ended: the level dropped and came back for the same trouble.

POD = detected / events, FAR = false alarms / spans, CSI = detected / (events + false alarms).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from statistics import median

import polars as pl

from alerts import Level
from training.metrics.events import ratio


@dataclass(frozen=True)
class WarningSkill:
    """One level's warnings against one level's events (counts and lead times)."""

    level: str
    events: int
    detected: int
    ahead: int
    late: int
    warnings: int
    false_alarms: int
    flaps: int
    median_lead_min: float | None
    brief: int = 0
    # the share of area-time under a warning at this level or above: a warning that never
    # closes detects everything, and this says what it cost
    warned_share: float = float("nan")

    @property
    def pod(self) -> float:
        return ratio(self.detected, self.events)

    @property
    def far(self) -> float:
        return ratio(self.false_alarms, self.warnings)

    @property
    def csi(self) -> float:
        return ratio(self.detected, self.events + self.false_alarms)

    def to_dict(self) -> dict[str, float | int | None]:
        """Flat numbers, the ratios included (for MLflow and JSON)."""
        out: dict[str, float | int | None] = {
            k: getattr(self, k)
            for k in (
                "events",
                "detected",
                "ahead",
                "late",
                "warnings",
                "false_alarms",
                "flaps",
                "median_lead_min",
                "brief",
                "warned_share",
            )
        }
        return out | {"pod": self.pod, "far": self.far, "csi": self.csi}


Span = tuple[datetime, datetime]


def warning_spans(timeline: pl.DataFrame, level: int, end: datetime) -> dict[str, list[Span]]:
    """Per area, the spans during which a warning stood at ``level`` or above (a span still
    open at ``end`` ends there).

    Args:
        timeline: ``warning_id, area_id, at, action, level`` (the level after each change;
            0 once closed), as :func:`training.replay_warnings` returns.
    """
    spans: dict[str, list[Span]] = {}
    for (_, area), rows in timeline.sort("at").group_by(
        "warning_id", "area_id", maintain_order=True
    ):
        since: datetime | None = None
        for at, lv in rows.select("at", "level").iter_rows():
            if lv >= level and since is None:
                since = at
            elif lv < level and since is not None:
                spans.setdefault(str(area), []).append((since, at))
                since = None
        if since is not None:
            spans.setdefault(str(area), []).append((since, end))
    return {a: sorted(s) for a, s in spans.items()}


def observed_episodes(
    observed: pl.DataFrame,
    threshold: str,
    *,
    below: bool,
    quiet: timedelta,
    min_duration: timedelta = timedelta(0),
) -> tuple[dict[str, list[Span]], int]:
    """Per area, the episodes of at least one target beyond its ``threshold`` column
    (``onset, end`` grid times), runs less than ``quiet`` apart merged into one, and the number
    of episodes left out as shorter than ``min_duration``.

    Args:
        observed: ``area_id, ts, value`` and the threshold column (null: no event there).
    """
    bound = pl.col(threshold)
    crossed = (pl.col("value") < bound) if below else (pl.col("value") >= bound)
    times = (
        observed.filter(crossed.fill_null(False))
        .select("area_id", "ts")
        .unique()
        .sort("area_id", "ts")
    )
    step = _grid_step(observed)
    out: dict[str, list[Span]] = {}
    brief = 0
    for (area,), rows in times.group_by("area_id", maintain_order=True):
        runs: list[list[datetime]] = []
        for ts in rows["ts"].to_list():
            if runs and ts - runs[-1][1] <= step + quiet:
                runs[-1][1] = ts
            else:
                runs.append([ts, ts])
        kept = [(a, b) for a, b in runs if b - a + step >= min_duration]
        brief += len(runs) - len(kept)
        out[str(area)] = kept
    return out, brief


def _grid_step(observed: pl.DataFrame) -> timedelta:
    gaps = observed.select(pl.col("ts").unique().sort().diff().drop_nulls().min()).item()
    return gaps if isinstance(gaps, timedelta) else timedelta(0)


def warning_skill(
    timeline: pl.DataFrame,
    observed: pl.DataFrame,
    *,
    levels: Sequence[str],
    below: bool,
    quiet: timedelta,
    start: datetime,
    end: datetime,
    min_duration: timedelta = timedelta(0),
) -> dict[str, WarningSkill]:
    """Skill at each level of the replayed warnings (see the module docstring).

    Args:
        timeline: the engine's changes (:func:`training.replay_warnings`).
        observed: ``area_id, ts, value`` with ``t_<level>`` for each level, every target
            on the grid over the replayed period.
        start, end: the first and last origin replayed; events whose onset is not after
            ``start`` (already under way) or after ``end`` are not counted, but still confirm
            a warning.
        min_duration: the shortest episode that is an event (the rule's ``min_event``).
    """
    out = {}
    for name in levels:
        spans = warning_spans(timeline, int(Level.parse(name)), end)
        episodes, brief = observed_episodes(
            observed, f"t_{name}", below=below, quiet=quiet, min_duration=min_duration
        )
        leads: list[float] = []
        late = 0
        events = 0
        for area, eps in episodes.items():
            mine = spans.get(area, [])
            for onset, stop in eps:
                if not (start < onset <= end):
                    continue
                events += 1
                at_onset = [a for a, b in mine if a <= onset < b or (a <= onset and b == end)]
                if at_onset:
                    leads.append((onset - min(at_onset)) / timedelta(minutes=1))
                elif any(onset < a <= stop for a, _ in mine):
                    late += 1
        false_alarms = flaps = warnings = 0
        covered = sum(
            ((min(b, end) - max(a, start)) for mine in spans.values() for a, b in mine),
            timedelta(0),
        )
        n_areas = observed["area_id"].n_unique()
        for area, mine in spans.items():
            eps = episodes.get(area, [])
            warnings += len(mine)
            false_alarms += sum(not any(o <= b and e >= a for o, e in eps) for a, b in mine)
            flaps += sum(b[0] - a[1] < quiet for a, b in pairwise(mine))
        out[name] = WarningSkill(
            level=name,
            events=events,
            detected=len(leads),
            ahead=sum(lead > 0 for lead in leads),
            late=late,
            warnings=warnings,
            false_alarms=false_alarms,
            flaps=flaps,
            median_lead_min=float(median(leads)) if leads else None,
            brief=brief,
            warned_share=covered / (n_areas * (end - start)) if end > start and n_areas else 0.0,
        )
    return out
