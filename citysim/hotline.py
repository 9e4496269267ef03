"""12345 hotline tickets and the utility outages behind many of them.

Tickets arrive as a Poisson process per district, category and hour whose rate carries what a
hotline analyst sees: a working-day rhythm (quiet nights, morning and afternoon peaks), quieter
weekends and holidays, and surges tied to what happens in the city: waterlogging calls while
streets stand in water and drainage calls after, outage calls while power or water is off,
road damage and fallen trees in typhoons, heat calls in heat waves.
"""

from __future__ import annotations

import json

import numpy as np
import polars as pl

from citysim.clock import GOLDEN, HOLIDAY, WEEKEND, Clock, day_kinds, local_date, local_hour
from citysim.geography import DISTRICTS, POPULATION_SHARE, Layout

# City-wide tickets per day on an ordinary working day.
BASE_PER_DAY = {
    "waterlogging": 8,
    "drainage": 35,
    "power_outage": 25,
    "water_supply": 55,
    "road_damage": 60,
    "traffic": 120,
    "noise": 240,
    "environment": 190,
    "heat": 6,
    "housing": 200,
    "public_transport": 100,
    "other": 420,
}
CATEGORIES = tuple(BASE_PER_DAY)
HOUR_SHAPE = np.array(
    [
        0.25,
        0.15,
        0.1,
        0.1,
        0.1,
        0.2,
        0.5,
        1.0,
        1.6,
        1.9,
        1.9,
        1.6,
        1.2,
        1.4,
        1.7,
        1.7,
        1.5,
        1.3,
        1.1,
        1.1,
        1.0,
        0.8,
        0.6,
        0.4,
    ]
)
HOUR_SHAPE = HOUR_SHAPE / HOUR_SHAPE.mean()
DAY_FACTOR = {WEEKEND: 0.85, HOLIDAY: 0.7, GOLDEN: 0.6}


def simulate_outages(
    clock: Clock, typhoon_h: np.ndarray, temp_h: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, pl.DataFrame]:
    """Power and water outages per district: typhoon winds and heat-wave loads raise the hazard.

    Returns the number of active outages (hours x districts x {power, water}) and the events.
    """
    hours, nd = len(typhoon_h), len(DISTRICTS)
    hazard = 0.004 + 0.25 * typhoon_h[:, None] ** 2 + 0.02 * np.clip(temp_h - 35, 0, None)
    starts = np.argwhere(rng.random((hours, nd)) < hazard)
    active = np.zeros((hours, nd, 2))
    rows = []
    names = list(DISTRICTS)
    for h, d in starts:
        kind = 0 if rng.random() < 0.7 else 1
        duration = float(np.clip(rng.lognormal(np.log(3), 0.7), 0.5, 24))
        end = min(h + int(np.ceil(duration)), hours)
        active[h:end, d, kind] += 1
        cause = "typhoon" if typhoon_h[h] > 0.2 else ("heat" if temp_h[h, d] > 35 else "equipment")
        lon0, lat0, lon1, lat1 = DISTRICTS[names[d]][2]
        rows.append(
            {
                "ts": int(clock.t0.astype(np.int64))
                + (int(h) * 3600 + int(rng.integers(0, 3600))) * 10**6,
                "source": "utility",
                "category": ("power_outage", "water_outage")[kind],
                "area_id": names[d],
                "lon": float(rng.uniform(lon0, lon1)),
                "lat": float(rng.uniform(lat0, lat1)),
                "attrs": json.dumps(
                    {
                        "cause": cause,
                        "duration_h": round(duration, 1),
                        "customers": int(rng.integers(200, 20000)),
                    }
                ),
            }
        )
    return active, _with_ids(rows, "utility")


def _with_ids(rows: list[dict], prefix: str) -> pl.DataFrame:
    if not rows:
        return pl.DataFrame()
    frame = pl.DataFrame(rows).with_columns(
        pl.col("ts").cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    )
    return frame.sort("ts", "area_id").with_columns(
        event_id=pl.format(
            f"{prefix}-{{}}", pl.int_range(1, pl.len() + 1).cast(pl.String).str.zfill(6)
        )
    )


def ticket_rates(
    clock: Clock,
    *,
    ponding_h: np.ndarray,
    rain_h: np.ndarray,
    typhoon_h: np.ndarray,
    temp_h: np.ndarray,
    outages: np.ndarray,
) -> np.ndarray:
    """Expected tickets per hour (hours x districts x categories).

    Args:
        ponding_h: summed depth above 5 cm (cm) of each district's ponding sensors, hourly max.
        rain_h: district mean rain (mm/h); typhoon_h: 0..1; temp_h: district degC.
        outages: active outages (hours x districts x {power, water}).
    """
    ts = clock.grid(60)
    kind = day_kinds(local_date(ts))
    day = np.vectorize(lambda k: DAY_FACTOR.get(int(k), 1.0))(kind) if len(kind) else kind
    shape = HOUR_SHAPE[local_hour(ts).astype(int)] * day
    share = np.array([POPULATION_SHARE[d] for d in DISTRICTS])
    base = np.array([BASE_PER_DAY[c] for c in CATEGORIES]) / 24
    rate = shape[:, None, None] * share[None, :, None] * base[None, None, :]
    rate = rate.copy()
    c = {name: i for i, name in enumerate(CATEGORIES)}
    weekend = np.isin(kind, [WEEKEND, HOLIDAY, GOLDEN])[:, None]
    rate[:, :, c["noise"]] *= np.where(weekend, 1.3, 1.0)
    lag1 = np.vstack([np.zeros((1, ponding_h.shape[1])), ponding_h[:-1]])
    lag3 = np.vstack([np.zeros((3, ponding_h.shape[1])), ponding_h[:-3]])[: len(ponding_h)]
    rate[:, :, c["waterlogging"]] += 0.12 * lag1 + 0.15 * rain_h
    rate[:, :, c["drainage"]] += 0.05 * lag3 + 0.05 * rain_h
    rate[:, :, c["power_outage"]] += 10.0 * outages[:, :, 0]
    rate[:, :, c["water_supply"]] += 8.0 * outages[:, :, 1]
    storm = typhoon_h[:, None] * share[None, :] * 6
    for name, k in (("road_damage", 5), ("environment", 6), ("public_transport", 2)):
        rate[:, :, c[name]] += k * storm
    rate[:, :, c["traffic"]] *= 1 + 0.05 * np.clip(rain_h, 0, 20)
    rate[:, :, c["heat"]] += 0.08 * np.clip(temp_h - 32, 0, None) ** 2 * share[None, :] * 6
    return rate


def hotline_events(
    clock: Clock, layout: Layout, rate: np.ndarray, rng: np.random.Generator
) -> pl.DataFrame:
    """Draw tickets from the rates; waterlogging/drainage tickets sit near ponding sensors."""
    counts = rng.poisson(rate)
    h, d, c = np.nonzero(counts)
    reps = counts[h, d, c]
    h, d, c = np.repeat(h, reps), np.repeat(d, reps), np.repeat(c, reps)
    n = len(h)
    sec = h.astype(np.int64) * 3600 + rng.integers(0, 3600, n)
    boxes = np.array([DISTRICTS[k][2] for k in DISTRICTS])
    u = rng.uniform(0.05, 0.95, (n, 2))
    lon = boxes[d, 0] + u[:, 0] * (boxes[d, 2] - boxes[d, 0])
    lat = boxes[d, 1] + u[:, 1] * (boxes[d, 3] - boxes[d, 1])
    wet = np.isin(c, [CATEGORIES.index("waterlogging"), CATEGORIES.index("drainage")])
    names = list(DISTRICTS)
    pond_xy = np.array(
        [(s["lon"], s["lat"]) for s in layout.series if s["series_id"].startswith("ponding-")]
    )
    pond_area = np.array([names.index(a) for a in layout.ponding_area])
    for k in range(len(names)):
        sel = np.flatnonzero(wet & (d == k))
        options = np.flatnonzero(pond_area == k)
        if sel.size and options.size:
            pick = options[rng.integers(0, options.size, sel.size)]
            lon[sel] = pond_xy[pick, 0] + rng.normal(0, 0.002, sel.size)
            lat[sel] = pond_xy[pick, 1] + rng.normal(0, 0.002, sel.size)
            lon[sel] = np.clip(lon[sel], boxes[k, 0], boxes[k, 2])
            lat[sel] = np.clip(lat[sel], boxes[k, 1], boxes[k, 3])
    channel = rng.choice(3, n, p=[0.55, 0.3, 0.15]).astype(np.uint32)
    frame = pl.DataFrame(
        {
            "ts": pl.Series(clock.t0 + sec.astype("timedelta64[s]"))
            .cast(pl.Datetime("us"))
            .dt.replace_time_zone("UTC"),
            "source": pl.repeat("hotline", n, eager=True, dtype=pl.String),
            "category": pl.Series(c.astype(np.uint32)).replace_strict(
                dict(enumerate(CATEGORIES)), return_dtype=pl.String
            ),
            "area_id": pl.Series(d.astype(np.uint32)).replace_strict(
                dict(enumerate(names)), return_dtype=pl.String
            ),
            "lon": np.round(lon, 5),
            "lat": np.round(lat, 5),
            "attrs": pl.Series(channel).replace_strict(
                {0: '{"channel": "phone"}', 1: '{"channel": "app"}', 2: '{"channel": "wechat"}'},
                return_dtype=pl.String,
            ),
        }
    )
    frame = frame.sort("ts", "area_id", "category", "lon")
    return frame.with_columns(
        event_id=pl.format("hotline-{}", pl.int_range(1, pl.len() + 1).cast(pl.String).str.zfill(7))
    )
