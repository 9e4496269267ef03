"""What-if: a storm scored for planning, through the same features and champions as live data.

A planner asks "100 mm in 3 hours over Gulou" or "the weather service's red rainstorm signal
city-wide". The storm becomes the rows the live feed would carry: a weather forecast issued at
each task's origin (hourly rain over the named areas for the named hours; ``as: observed``
puts it in the rain gauges over the last hours instead, the storm that has already fallen),
and, when asked, a rainstorm signal event. Every served task scores a copy of its window with
those rows (``Scorers.trial``), the rules grade each target, and the warning engine previews
what it would open or escalate. Nothing is written: not the store, not the served forecasts,
not the ledger.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import polars as pl

from alerts import Level, PlannedChange, grade
from features import SCHEMAS, NotFoundError
from serving.online import OnlineState
from serving.scorers import Scorers

_SIGNAL_ID = itertools.count()


@dataclass(frozen=True)
class Storm:
    """Rain over areas: ``mm`` in all over ``hours``, starting at each task's origin."""

    areas: tuple[str, ...]
    mm: float
    hours: int
    kind: Literal["forecast", "observed"] = "forecast"
    signal: Literal["blue", "yellow", "orange", "red"] | None = None


@dataclass(frozen=True)
class ScenarioResult:
    """Per domain: its origin and targets at a level (or likeliest); the warnings it would
    change."""

    domains: dict[str, dict[str, Any]]
    warnings: list[PlannedChange]


def run_scenario(scorers: Scorers, storms: list[Storm], *, top: int = 10) -> ScenarioResult:
    """Score ``storms`` through every served domain without writing anything.

    Raises:
        NotFoundError: an area the city does not have (naming the known ones).
    """
    known = set(scorers.areas())
    unknown = sorted({a for s in storms for a in s.areas} - known)
    if unknown:
        raise NotFoundError(
            f"areas {unknown} are not in the city; known areas: {', '.join(sorted(known))}"
        )
    trial = scorers.trial(_storm_rows(scorers, storms))
    domains: dict[str, dict[str, Any]] = {}
    for domain, snap in trial.snaps.items():
        scorer = scorers.by_domain[domain]
        if snap is None:
            continue
        ranked: list[tuple[tuple[int, float], dict[str, Any]]] = []
        for a in scorer.assessments(snap):
            level = grade(a.probabilities, a.rule)
            likeliest = max(a.probabilities.values(), default=0.0)
            ranked.append(
                (
                    (-int(level), -likeliest),
                    {
                        "series_id": a.series_id,
                        "area_id": a.area_id,
                        "label": a.label,
                        "level": level.colour,
                        "peak_value": round(float(a.peak_value), 3),
                        "peak_ts": a.peak_ts.isoformat(),
                        "probabilities": {
                            lv.colour: round(float(p), 4) for lv, p in a.probabilities.items()
                        },
                    },
                )
            )
        ranked.sort(key=lambda pair: pair[0])
        rows = [row for _, row in ranked]
        at_level = [r for r in rows if r["level"] != Level.NONE.colour]
        domains[domain] = {
            "origin": snap.origin.isoformat(),
            "unit": scorer.unit or None,
            "targets_at_level": len(at_level),
            "targets": at_level or rows[:top],
        }
    return ScenarioResult(domains, scorers.preview(trial))


def _storm_rows(scorers: Scorers, storms: list[Storm]) -> Callable[[OnlineState], None]:
    """The adder that puts the storms into one task's window copy, at that task's origin."""
    gauges = scorers.catalog.filter(pl.col("signal") == "rain_mm").select("series_id", "area_id")

    def add(state: OnlineState) -> None:
        now = state.latest()
        if now is None:
            return
        origin = now[1]
        forecasts, observed, events = [], [], []
        for storm in storms:
            per_hour = storm.mm / storm.hours
            for area in storm.areas:
                if storm.kind == "forecast":
                    forecasts += [
                        {
                            "issued_at": origin,
                            "valid_at": origin + timedelta(hours=h),
                            "area_id": area,
                            "variable": "rain_mm",
                            "value": per_hour,
                        }
                        for h in range(1, storm.hours + 1)
                    ]
                else:
                    steps = storm.hours * 6  # every 10 minutes over the last hours
                    ids = gauges.filter(pl.col("area_id") == area)["series_id"].to_list()
                    observed += [
                        {
                            "series_id": sid,
                            "ts": origin - timedelta(minutes=10 * k),
                            "value": per_hour / 6,
                            "received_at": None,
                        }
                        for sid in ids
                        for k in range(steps)
                    ]
                if storm.signal is not None:
                    events.append(_signal_event(storm.signal, area, origin))
        if forecasts:
            state.add_forecasts(_frame(forecasts, "weather_forecasts"))
        if observed:
            state.add_observations(_frame(observed, "observations"))
        if events:
            state.add_events(_frame(events, "events"))

    return add


def _signal_event(colour: str, area: str, origin: datetime) -> dict[str, Any]:
    return {
        "event_id": f"scenario-signal-{next(_SIGNAL_ID)}",
        "ts": origin - timedelta(minutes=1),
        "source": "weather",
        "category": f"rainstorm_{colour}",
        "area_id": area,
        "lat": None,
        "lon": None,
        "attrs": '{"action": "issue", "scenario": true}',
    }


def _frame(rows: list[dict[str, Any]], table: str) -> pl.DataFrame:
    """Scenario rows as the canonical table holds them."""
    return pl.DataFrame(rows, schema=SCHEMAS[table], orient="row")
