"""Speeds at road sensors every 5 minutes.

Speed is free-flow speed times what slows it: the daily and weekly commute (peaks near 08:00 and
18:00 local on workdays, a flatter weekend, light holidays), rain (wet roads and poor sight),
standing water on the road (from about 20 cm a lane is closed and traffic crawls), and incidents
that slow one link and spill onto its graph neighbours before clearing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import polars as pl

from citysim.clock import GOLDEN, HOLIDAY, WEEKEND, Clock, day_kinds, local_date, local_hour
from citysim.geography import Layout

STEP_MIN = 5


@dataclass
class Traffic:
    speed: np.ndarray  # (steps, sensors) km/h
    incidents: pl.DataFrame


def congestion(hour: np.ndarray, kind: np.ndarray) -> np.ndarray:
    """Share of free-flow speed lost to volume, by local hour and kind of day (0..1)."""

    def bump(centre: float, width: float) -> np.ndarray:
        return np.exp(-0.5 * ((hour - centre) / width) ** 2)

    night = 0.05
    work = night + 0.42 * bump(8.2, 1.0) + 0.48 * bump(18.0, 1.2) + 0.22 * bump(13, 3.5)
    weekend = night + 0.25 * bump(11.5, 2.5) + 0.28 * bump(17.5, 2.5)
    out = np.where(kind == WEEKEND, weekend, work)
    out = np.where(kind == HOLIDAY, weekend * 0.8, out)
    return np.where(kind == GOLDEN, weekend * 0.55, out)


def simulate_traffic(
    clock: Clock,
    layout: Layout,
    rain: np.ndarray,
    ponding: np.ndarray,
    rng: np.random.Generator,
) -> Traffic:
    """Speeds (km/h, in [0, 160]) and the incidents that caused some of the slow-downs.

    Args:
        rain: mm per 10 min at rain gauges; ponding: cm at ponding sensors (10-min steps).
    """
    ts = clock.grid(STEP_MIN)
    n, m = len(ts), len(layout.road_ids)
    kind = day_kinds(local_date(ts))
    share = congestion(local_hour(ts), kind)[:, None] * rng.uniform(0.7, 1.2, m)[None, :]
    r = np.repeat(rain[:, layout.road_rain] * 6.0, 2, axis=0)[:n]  # mm/h on 5-min steps
    wet = 1 - 0.25 * np.clip(r / 20.0, 0, 1)
    share = share * (1 + 0.6 * np.clip(r / 10.0, 0, 1))  # rain also brings out the cars
    factor = (1 - np.clip(share, 0, 0.85)) * wet
    has_pond = layout.road_ponding >= 0
    depth = np.zeros((n, m))
    depth[:, has_pond] = np.repeat(ponding[:, layout.road_ponding[has_pond]], 2, axis=0)[:n]
    flood = np.interp(depth, [0, 5, 20, 40], [1.0, 0.95, 0.12, 0.03])
    factor *= flood
    hit, incidents = _incidents(clock, layout, ts, r, rng)
    factor *= 1 - hit
    noise = rng.normal(0, 0.04, (n, m))
    speed = layout.free_flow[None, :] * factor * (1 + noise)
    return Traffic(np.round(np.clip(speed, 0, 160), 1), incidents)


def _incidents(
    clock: Clock, layout: Layout, ts: np.ndarray, rain_mm_h: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, pl.DataFrame]:
    """Crashes and breakdowns: more in rain; each decays over 20-90 minutes and spreads."""
    n, m = rain_mm_h.shape
    rate = 6.0 / 288 / m * (1 + 2.0 * np.clip(rain_mm_h / 5, 0, 1))  # per step per sensor
    starts = np.argwhere(rng.random((n, m)) < rate)
    hit = np.zeros((n, m))
    rows = []
    for t, s in starts:
        severity = rng.uniform(0.3, 0.8)
        tau = rng.uniform(4, 18)  # steps (5 min)
        span = np.arange(int(tau * 4))
        wave = severity * np.exp(-span / tau)
        end = min(t + len(span), n)
        hit[t:end, s] = np.maximum(hit[t:end, s], wave[: end - t])
        for nb in layout.road_neighbours[s]:
            lag = int(rng.integers(1, 3))
            a, b = min(t + lag, n), min(t + lag + len(span), n)
            hit[a:b, nb] = np.maximum(hit[a:b, nb], 0.5 * wave[: b - a])
        rows.append(
            {
                "ts": int(ts[t].astype(np.int64)) + int(rng.integers(0, 300)) * 1_000_000,
                "source": "traffic",
                "category": "incident",
                "area_id": layout.road_area[s],
                "lon": float(layout.road_xy[s, 0]),
                "lat": float(layout.road_xy[s, 1]),
                "attrs": json.dumps(
                    {"series_id": layout.road_ids[s], "severity": round(float(severity), 2)}
                ),
            }
        )
    if not rows:
        return hit, pl.DataFrame()
    frame = pl.DataFrame(rows).with_columns(
        pl.col("ts").cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    )
    frame = frame.sort("ts").with_columns(
        event_id=pl.format("traffic-{}", pl.int_range(1, pl.len() + 1).cast(pl.String).str.zfill(6))
    )
    return hit, frame
