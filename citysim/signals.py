"""The meteorological service's rainstorm signals per district, as events.

The service issues a signal when its threshold is expected (from the latest forecast) or reached
(from the district's wettest gauge): blue 50 mm in 12 h, yellow 50 mm in 6 h, orange 50 mm in
3 h, red 100 mm in 3 h. It upgrades at once and lifts or downgrades only after three quiet hours,
so signals do not flap. A change is a "lift" of the old colour and an "issue" of the new one.
"""

from __future__ import annotations

import json

import numpy as np
import polars as pl

from citysim.clock import Clock
from citysim.forecasts import ISSUE_EVERY_H, LEADS_H

LEVELS = ("", "rainstorm_blue", "rainstorm_yellow", "rainstorm_orange", "rainstorm_red")
RULES = ((4, 3, 100.0), (3, 3, 50.0), (2, 6, 50.0), (1, 12, 50.0))  # level, hours, mm
HOLD_H = 3
SPOT_FACTOR = 1.3  # the wettest gauge gets more than the district mean the forecast gives


def _trailing(x: np.ndarray, hours: int) -> np.ndarray:
    c = np.concatenate([np.zeros((1, x.shape[1])), np.cumsum(x, axis=0)])
    idx = np.arange(1, len(x) + 1)
    return c[idx] - c[np.maximum(idx - hours, 0)]


def raw_levels(max_rain_h: np.ndarray, fc_rain: np.ndarray) -> np.ndarray:
    """The signal level each hour would deserve on its own (hours x districts, 0..4)."""
    hours, nd = max_rain_h.shape
    h = np.arange(hours)
    issue = h // ISSUE_EVERY_H
    offset = h - issue * ISSUE_EVERY_H
    level = np.zeros((hours, nd), int)
    for lvl, span, mm in RULES:
        reached = _trailing(max_rain_h, span)
        leads = np.clip(offset[:, None] + np.arange(span)[None, :], 0, LEADS_H - 1)
        expected = fc_rain[issue[:, None], leads].sum(1) * SPOT_FACTOR  # (hours, districts)
        hit = (reached >= mm) | (expected >= mm)
        level = np.where(hit & (level == 0), lvl, level)
    return level


def rainstorm_events(
    clock: Clock,
    max_rain_h: np.ndarray,
    fc_rain: np.ndarray,
    districts: list[str],
    centres: np.ndarray,
) -> pl.DataFrame:
    """Issue/lift events with hysteresis, one row per change per district."""
    raw = raw_levels(max_rain_h, fc_rain)
    current = np.zeros(raw.shape[1], int)
    quiet = np.zeros(raw.shape[1], int)
    rows: list[dict] = []
    hour = np.timedelta64(3_600_000_000, "us")
    for t in range(raw.shape[0]):
        quiet = np.where(raw[t] < current, quiet + 1, 0)
        new = np.where(raw[t] > current, raw[t], current)
        new = np.where(quiet >= HOLD_H, raw[t], new)
        for d in np.flatnonzero(new != current):
            ts = int((clock.t0 + t * hour).astype(np.int64))
            for lvl, action in ((current[d], "lift"), (new[d], "issue")):
                if lvl > 0:
                    rows.append(
                        {
                            "ts": ts,
                            "source": "weather",
                            "category": LEVELS[lvl],
                            "area_id": districts[d],
                            "lon": centres[d, 0],
                            "lat": centres[d, 1],
                            "attrs": json.dumps({"action": action}),
                        }
                    )
        quiet = np.where(new != current, 0, quiet)
        current = new
    if not rows:
        return pl.DataFrame()
    frame = pl.DataFrame(rows).with_columns(
        pl.col("ts").cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    )
    return frame.with_columns(
        event_id=pl.format("weather-{}", pl.int_range(1, pl.len() + 1).cast(pl.String).str.zfill(6))
    )
