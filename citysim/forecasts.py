"""The weather service's forecasts, as the city receives them.

Rain forecasts are the true hourly district rain seen through the errors real forecasts have:
timing errors that grow with lead time, blur (a forecast cannot place a storm to the hour two days
out), multiplicative noise, and storms partly missed at long lead. Temperature errors grow with
lead too. Tide tables are astronomical and nearly exact. A model may use only what was issued by
its origin, so the forecasts are kept as issued, never as verified.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from citysim.clock import Clock
from citysim.hydrology import astronomical_tide

ISSUE_EVERY_H = 6
LEADS_H = 72
HOUR_US = 3_600_000_000


@dataclass
class Forecasts:
    rain: np.ndarray  # (issues, leads, districts) mm in the hour ending at issue + lead
    temp: np.ndarray  # (issues, leads, districts) degC at issue + lead
    frame: pl.DataFrame


def _window_mean(x: np.ndarray, idx: np.ndarray, half: np.ndarray) -> np.ndarray:
    """Mean of x[idx-half : idx+half+1] along axis 0 (clipped at the ends), for every index."""
    c = np.concatenate([np.zeros((1, x.shape[1])), np.cumsum(x, axis=0)])
    lo = np.clip(idx - half, 0, len(x))
    hi = np.clip(idx + half + 1, 0, len(x))
    width = np.maximum(hi - lo, 1)[..., None]
    return (c[hi] - c[lo]) / width


def forecast_weather(
    clock: Clock,
    rain_h: np.ndarray,
    temp_h: np.ndarray,
    districts: list[str],
    rng: np.random.Generator,
) -> Forecasts:
    """Issue rain and temperature forecasts every 6 hours, and a tide table every day.

    Args:
        rain_h: true district mean rain, mm per hour (hours x districts).
        temp_h: true district temperature, degC (hours x districts).
    """
    hours, nd = rain_h.shape
    issues = np.arange(0, hours, ISSUE_EVERY_H)
    lead = np.arange(1, LEADS_H + 1)
    ni = len(issues)
    timing = rng.normal(0, 1.5, ni)[:, None] * lead[None, :] / 24
    idx = issues[:, None] + lead[None, :] - 1 + np.round(timing).astype(int)
    half = np.broadcast_to(lead // 24, idx.shape)
    rain = _window_mean(rain_h, idx, half)  # (issues, leads, districts)
    sigma = (0.25 + 0.01 * lead)[None, :, None]
    rain *= np.exp(sigma * rng.normal(size=rain.shape) - sigma**2 / 2)
    p_miss = np.array([0.05, 0.2, 0.35])[(lead - 1) // 24]
    missed = rng.random((ni, 3, nd)) < p_miss[::24][None, :, None]
    rain *= np.where(np.repeat(missed, 24, axis=1), 0.3, 1.0)
    rain = np.round(rain, 1)
    bias = rng.normal(0, 1.0, (ni, 1, nd)) * (lead[None, :, None] / 72) * 1.5
    tidx = np.clip(issues[:, None] + lead[None, :], 0, hours - 1)
    temp = (
        temp_h[tidx]
        + bias
        + rng.normal(size=(ni, LEADS_H, nd)) * (0.3 + 0.02 * lead)[None, :, None]
    )
    temp = np.round(temp, 1)
    return Forecasts(rain, temp, _frame(clock, issues, rain, temp, districts, rng, hours))


def _frame(
    clock: Clock,
    issues: np.ndarray,
    rain: np.ndarray,
    temp: np.ndarray,
    districts: list[str],
    rng: np.random.Generator,
    hours: int,
) -> pl.DataFrame:
    _ni, nl, nd = rain.shape
    lead = np.arange(1, nl + 1)
    valid_h = issues[:, None, None] + lead[None, :, None] + np.zeros((1, 1, nd), int)
    keep = (valid_h <= hours).ravel()  # only hours inside the simulated period
    issue_h = np.broadcast_to(issues[:, None, None], valid_h.shape).ravel()[keep]
    area = np.broadcast_to(np.arange(nd)[None, None, :], valid_h.shape).ravel()[keep]
    frames = []
    for name, values in (("rain_mm", rain), ("temperature_c", temp)):
        frames.append(
            _rows(
                clock, issue_h, valid_h.ravel()[keep], area, districts, name, values.ravel()[keep]
            )
        )
    days = np.arange(0, hours, 24)
    t_issue = np.repeat(days, LEADS_H)
    t_valid = t_issue + np.tile(lead, len(days))
    ok = t_valid <= hours
    t_issue, t_valid = t_issue[ok], t_valid[ok]
    valid_ts = clock.t0 + t_valid * np.timedelta64(HOUR_US, "us")
    tide = np.round(astronomical_tide(valid_ts) + rng.normal(0, 0.02, len(valid_ts)), 2)
    frames.append(
        _rows(
            clock, t_issue, t_valid, np.zeros(len(t_issue), int), ["fuzhou"], "tide_level_m", tide
        )
    )
    return pl.concat(frames).sort("issued_at", "valid_at", "area_id", "variable")


def _rows(
    clock: Clock,
    issue_h: np.ndarray,
    valid_h: np.ndarray,
    area: np.ndarray,
    names: Sequence[str],
    variable: str,
    values: np.ndarray,
) -> pl.DataFrame:
    hour = np.timedelta64(HOUR_US, "us")
    return pl.DataFrame(
        {
            "issued_at": pl.Series(clock.t0 + issue_h * hour).dt.replace_time_zone("UTC"),
            "valid_at": pl.Series(clock.t0 + valid_h * hour).dt.replace_time_zone("UTC"),
            "area_id": pl.Series(area.astype(np.uint32)).replace_strict(
                dict(enumerate(names)), return_dtype=pl.String
            ),
            "variable": pl.repeat(variable, len(values), eager=True, dtype=pl.String),
            "value": values.astype(np.float64),
        }
    )
