"""Rain at every gauge every 10 minutes, and temperature every hour.

Rain is the sum of storms drawn from a seasonal climate (winter fronts, the May-June plum rains,
summer convective bursts, July-September typhoons). Each storm is an areal intensity in time
times a moving log-normal spatial field (random Fourier features approximate a Gaussian process
with a squared-exponential kernel), so nearby gauges are strongly correlated and far ones less,
and no gauge ever gets negative rain.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.signal import lfilter

from citysim.clock import Clock, day_of_year, local_date, local_hour
from citysim.geography import Layout, _km

STEP_MIN = 10
PER_HOUR = 6


@dataclass(frozen=True)
class Storm:
    """One rain-bearing system: kind, first grid step, length in steps, areal peak rate mm/h."""

    kind: str
    start: int
    steps: int
    peak_mm_h: float


@dataclass
class Weather:
    rain: np.ndarray  # (steps, gauges) mm per 10 minutes
    storms: list[Storm] = field(default_factory=list)
    typhoon: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (steps,) 0..1 strength
    temp_h: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (hours, stations)


def _month_day(clock: Clock) -> tuple[np.ndarray, np.ndarray]:
    days = local_date(clock.grid(24 * 60))
    months = days.astype("datetime64[M]").astype(int) % 12 + 1
    dom = (days - days.astype("datetime64[M]")).astype(int) + 1
    return months, dom


def draw_storms(
    clock: Clock, rng: np.random.Generator, typhoons: Sequence[dt.datetime] = ()
) -> list[Storm]:
    """The storm calendar: which systems come when, by the city's seasons."""
    months, dom = _month_day(clock)
    per_day = clock.steps_per_day(STEP_MIN)
    storms: list[Storm] = []
    for day, (m, d) in enumerate(zip(months, dom, strict=True)):
        base = day * per_day
        plum = (m == 5 and d >= 10) or m == 6
        p_front = {1: 0.12, 2: 0.16, 3: 0.2, 4: 0.22, 10: 0.07, 11: 0.07, 12: 0.07}.get(m, 0.06)
        if plum:
            p_front = 0.3
        if rng.random() < p_front:
            hours = rng.uniform(12, 48) if plum else rng.uniform(4, 24)
            rate = rng.lognormal(np.log(2.4 if plum else 1.2), 0.5)
            start = base + int(rng.integers(0, per_day))
            storms.append(Storm("plum" if plum else "front", start, int(hours * PER_HOUR), rate))
        p_conv = {5: 0.08, 6: 0.15, 7: 0.3, 8: 0.35, 9: 0.25, 4: 0.05, 10: 0.05}.get(m, 0.0)
        if rng.random() < p_conv:  # afternoon thunderstorms, 14:00-19:00 local (06-11 UTC)
            start = base + int(rng.integers(6 * PER_HOUR, 11 * PER_HOUR))
            peak = rng.uniform(30, 90)
            storms.append(Storm("convective", start, int(rng.uniform(1, 3) * PER_HOUR), peak))
    season = np.flatnonzero((months >= 7) & (months <= 9))
    if season.size:
        expected = 1.6 * season.size / 92
        for _ in range(rng.poisson(expected)):
            day = int(rng.choice(season))
            landfall = day * per_day + int(rng.integers(0, per_day))
            storms.append(_typhoon(rng, landfall))
    for when in typhoons:
        storms.append(_typhoon(rng, clock.index_of(when, STEP_MIN), forced=True))
    return storms


def _typhoon(rng: np.random.Generator, landfall: int, forced: bool = False) -> Storm:
    """A typhoon's rain lasts about three days and peaks near landfall."""
    peak = rng.uniform(13.0, 16.0) if forced else rng.uniform(5.0, 13.0)
    return Storm("typhoon", landfall - 36 * PER_HOUR, 72 * PER_HOUR, peak)


def _envelope(storm: Storm, rng: np.random.Generator) -> np.ndarray:
    """Areal mean rate (mm/h) over the storm's steps, with gusty fluctuations."""
    t = np.arange(storm.steps) / max(storm.steps - 1, 1)
    if storm.kind == "typhoon":
        shape = np.exp(-0.5 * ((t - 0.5) / 0.14) ** 2)
        sd, rho = 0.55, 0.85  # rain bands: bursts of an hour or so
    elif storm.kind == "convective":
        shape = np.exp(-0.5 * ((t - 0.4) / 0.2) ** 2)
        sd, rho = 0.2, 0.7
    else:
        shape = np.sin(np.pi * t) ** 0.7
        sd, rho = 0.7, 0.97
    eps = rng.normal(size=storm.steps) * np.sqrt(1 - rho**2)
    eps[0] = rng.normal()
    z = lfilter([1.0], [1.0, -rho], eps)  # AR(1) with unit variance
    return storm.peak_mm_h * shape * np.exp(sd * z - sd**2 / 2)


def _field(
    storm: Storm, rng: np.random.Generator, xy_km: np.ndarray, scale_km: float, sd: float
) -> np.ndarray:
    """A moving log-normal multiplier (mean 1) at the gauges, correlated over ``scale_km``."""
    k = 24
    w = rng.normal(0, 1 / scale_km, (k, 2))
    b = rng.uniform(0, 2 * np.pi, k)
    # typhoon rain bands sit over the city for hours; fronts and showers pass through
    speed = (rng.uniform(2, 8) if storm.kind == "typhoon" else rng.uniform(10, 35)) / PER_HOUR
    angle = rng.uniform(0, 2 * np.pi)
    v = speed * np.array([np.cos(angle), np.sin(angle)])
    shift = np.arange(storm.steps)[:, None] * v[None, :]  # (steps, 2)
    phase = xy_km @ w.T  # (gauges, k)
    moving = (shift @ w.T)[:, None, :]  # (steps, 1, k)
    f = np.sqrt(2 / k) * np.cos(phase[None] - moving + b).sum(-1)
    return np.exp(sd * f - sd**2 / 2)


def _convective(storm: Storm, rng: np.random.Generator, xy_km: np.ndarray) -> np.ndarray:
    """Small intense cells drifting across the city: local bursts of up to ~75 mm/h."""
    t = np.arange(storm.steps)[:, None]
    out = np.zeros((storm.steps, len(xy_km)))
    lo, hi = xy_km.min(0), xy_km.max(0)
    for _ in range(int(rng.integers(1, 5))):
        c0 = rng.uniform(lo, hi)
        v = rng.normal(0, 2.5, 2)
        r = rng.uniform(3, 7)
        tc, ts = rng.uniform(0.2, 0.7) * storm.steps, rng.uniform(1.5, 4)
        centre = c0[None, :] + t * v[None, :]
        d2 = ((xy_km[None, :, :] - centre[:, None, :]) ** 2).sum(-1)
        peak = storm.peak_mm_h * rng.uniform(0.6, 1.0)
        out += peak * np.exp(-d2 / (2 * r**2)) * np.exp(-0.5 * ((t - tc) / ts) ** 2)
    return out


def simulate_rain(
    clock: Clock, layout: Layout, rng: np.random.Generator, storms: list[Storm]
) -> tuple[np.ndarray, np.ndarray]:
    """Rain (mm per 10 min) at each gauge, and the typhoon strength 0..1 at each step."""
    n = clock.days * clock.steps_per_day(STEP_MIN)
    xy = _km(layout.rain_xy)
    xy = xy - xy.mean(0)
    rain = np.zeros((n, len(xy)))
    typhoon = np.zeros(n)
    for storm in storms:
        a, b = max(storm.start, 0), min(storm.start + storm.steps, n)
        if a >= b:
            continue
        if storm.kind == "convective":
            rate = _convective(storm, rng, xy)
        else:
            scale, sd = (20.0, 0.45) if storm.kind == "typhoon" else (25.0, 0.35)
            rate = _envelope(storm, rng)[:, None] * _field(storm, rng, xy, scale, sd)
        rain[a:b] += rate[a - storm.start : b - storm.start] / PER_HOUR
        if storm.kind == "typhoon":
            t = (np.arange(storm.steps) - storm.steps / 2) / (storm.steps * 0.18)
            strength = np.exp(-0.5 * t**2)[a - storm.start : b - storm.start]
            typhoon[a:b] = np.maximum(typhoon[a:b], strength)
    rain = np.where(rain < 0.05, 0.0, np.round(rain, 1))  # gauges resolve 0.1 mm
    return rain, typhoon


def simulate_temperature(
    clock: Clock, rng: np.random.Generator, city_rain_h: np.ndarray, offsets: np.ndarray
) -> np.ndarray:
    """Hourly temperature at each station: season, day cycle, weather noise, heat waves, rain.

    The coldest hour is near 06:00 local and the warmest near 14:00; rain cools and flattens the
    day; July-August heat waves push afternoons to 37-40 degC for days at a time.
    """
    ts = clock.grid(60)
    doy, hour = day_of_year(ts), local_hour(ts)
    season = 20.2 - 9.2 * np.cos(2 * np.pi * (doy - 18) / 365.25)
    daily = 3.5 * np.cos(2 * np.pi * (hour - 14) / 24)
    wet = np.clip(city_rain_h / 3.0, 0, 1)
    anomaly = lfilter([1.0], [1.0, -0.985], rng.normal(0, 0.12, len(ts)))  # AR(1), sd ~0.7
    heat = np.zeros(len(ts))
    months = ts.astype("datetime64[M]").astype(int) % 12 + 1
    summer = np.flatnonzero((months == 7) | (months == 8))
    for _ in range(rng.poisson(2.5 * summer.size / (62 * 24))):
        start = int(rng.choice(summer))
        length = int(rng.uniform(4, 10) * 24)
        bump = rng.uniform(3.0, 5.0) * np.sin(np.pi * np.arange(length) / length) ** 0.5
        heat[start : start + length] += bump[: len(ts) - start]
    base = season + daily * (1 - 0.7 * wet) + anomaly + heat - 2.0 * wet
    temp = base[:, None] + offsets[None, :] + rng.normal(0, 0.25, (len(ts), len(offsets)))
    return np.round(np.clip(temp, -5, 45), 1)
