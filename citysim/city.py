"""Run the whole city: weather, forecasts, rivers, ponding, traffic, hotline, faults, tables.

Each component draws from its own random stream (``seed`` plus a fixed component number), so a
change in one component's draws never shifts another's, and the same seed gives the same city.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import polars as pl
from tqdm import tqdm

from citysim.clock import Clock
from citysim.faults import apply_faults
from citysim.feed import write_feed
from citysim.forecasts import forecast_weather
from citysim.geography import DISTRICTS, areas_frame, build_layout, series_frame
from citysim.hotline import hotline_events, simulate_outages, ticket_rates
from citysim.hydrology import simulate_rivers, simulate_tide
from citysim.ponding import ponding_depth
from citysim.signals import rainstorm_events
from citysim.traffic import simulate_traffic
from citysim.weather import draw_storms, simulate_rain, simulate_temperature
from features import KEYS, TABLES, Store, conform

STAGES = ("weather", "forecasts", "rivers", "ponding", "traffic", "hotline", "tables")
DISTRICT_TEMP_OFFSET = {"gulou": 0.6, "taijiang": 0.5, "cangshan": 0.2, "jinan": 0.0}
DISTRICT_TEMP_OFFSET |= {"mawei": -0.2, "changle": -0.5}
STATION_OFFSET = np.array([0.6, 0.2, -0.2, -0.5])  # gulou, cangshan, mawei, changle


def _hourly(x: np.ndarray, per_hour: int, how: Callable) -> np.ndarray:
    return how(x.reshape(-1, per_hour, *x.shape[1:]), axis=1)


def _by_district(x: np.ndarray, area: list[str], how: Callable) -> np.ndarray:
    cols = [how(x[:, [i for i, a in enumerate(area) if a == d]], axis=1) for d in DISTRICTS]
    return np.stack(cols, axis=1)


def simulate(
    *,
    days: int,
    seed: int,
    start: dt.date = dt.date(2025, 1, 1),
    typhoons: Sequence[dt.datetime] = (),
    progress: bool = False,
) -> dict[str, pl.DataFrame]:
    """Simulate ``days`` days of the city and return its five canonical tables.

    Args:
        typhoons: extra typhoon landfalls (UTC) besides the natural ones, so that a short test
            period can be made to contain a storm.
    """
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    clock, lay = Clock(start, days), build_layout()
    rng = {name: np.random.default_rng([seed, k]) for k, name in enumerate((*STAGES, "faults"))}
    bar = tqdm(total=len(STAGES), desc="simulate", disable=not progress, leave=False)
    names = list(DISTRICTS)

    storms = draw_storms(clock, rng["weather"], typhoons)
    rain, typhoon = simulate_rain(clock, lay, rng["weather"], storms)
    rain_h = _hourly(rain, 6, np.sum)
    district_rain_h = _by_district(rain_h, lay.rain_area, np.mean)
    temp_st = simulate_temperature(clock, rng["weather"], rain_h.mean(1), STATION_OFFSET)
    offsets = np.array([DISTRICT_TEMP_OFFSET[d] for d in names])
    district_temp = temp_st.mean(1, keepdims=True) - STATION_OFFSET.mean() + offsets[None, :]
    bar.update()

    fc = forecast_weather(clock, district_rain_h, district_temp, names, rng["forecasts"])
    bar.update()

    ts10 = clock.grid(10)
    tide = simulate_tide(ts10, typhoon, rng["rivers"])
    ahead = fc.rain[:, :24].sum(1) >= 40.0  # (issues, districts): storm expected within 24 h
    step_issue = np.arange(len(ts10)) // 36
    level_d = np.array([names.index(a) for a in lay.level_area])
    drawdown = ahead[step_issue][:, level_d]
    reach_rain = rain[:, lay.level_rain]
    rivers = simulate_rivers(lay, reach_rain, tide, drawdown)
    bar.update()

    ponding = ponding_depth(lay, rain, rivers.level, rng["ponding"])
    bar.update()

    traffic = simulate_traffic(clock, lay, rain, ponding, rng["traffic"])
    bar.update()

    typhoon_h = _hourly(typhoon, 6, np.max)
    outages, utility = simulate_outages(clock, typhoon_h, district_temp, rng["hotline"])
    over = _hourly(np.clip(ponding - 5, 0, None), 6, np.max)
    rate = ticket_rates(
        clock,
        ponding_h=_by_district(over, lay.ponding_area, np.sum),
        rain_h=district_rain_h,
        typhoon_h=typhoon_h,
        temp_h=district_temp,
        outages=outages,
    )
    hotline = hotline_events(clock, lay, rate, rng["hotline"])
    centres = np.array([[(b[0] + b[2]) / 2, (b[1] + b[3]) / 2] for _, _, b in DISTRICTS.values()])
    weather_ev = rainstorm_events(
        clock, _by_district(rain_h, lay.rain_area, np.max), fc.rain, names, centres
    )
    bar.update()

    matrices = [
        ("rain_mm", lay.rain_ids, rain, 10),
        ("water_level_m", lay.level_ids, np.round(rivers.level, 3), 10),
        ("tide_level_m", ["tide-minjiang"], np.round(tide[:, None], 3), 10),
        ("ponding_cm", lay.ponding_ids, ponding, 10),
        ("pump_rate_m3s", lay.pump_ids, np.round(rivers.pump, 2), 10),
        ("gate_opening", lay.gate_ids, np.round(rivers.gate, 3), 10),
        ("speed_kmh", lay.road_ids, traffic.speed, 5),
        ("temperature_c", lay.temp_ids, temp_st, 60),
    ]
    observations = _observations(clock, matrices, rng["faults"])
    events = pl.concat(
        [f for f in (hotline, traffic.incidents, utility, weather_ev) if f.height],
        how="diagonal_relaxed",
    )
    tables = {
        "areas": areas_frame(),
        "series": series_frame(lay),
        "observations": observations,
        "events": events,
        "weather_forecasts": fc.frame,
    }
    out = {name: conform(name, tables[name]).sort(KEYS[name]) for name in TABLES}
    bar.update()
    bar.close()
    return out


def _observations(clock: Clock, matrices: list, rng: np.random.Generator) -> pl.DataFrame:
    """Long observation rows, in (series_id, ts) order, with faults applied."""
    ids, ts, values, late = [], [], [], []
    every = sorted(name for _, names, _, _ in matrices for name in names)
    code = {name: i for i, name in enumerate(every)}
    for signal, names, matrix, step in matrices:
        grid = clock.grid(step).astype(np.int64)
        faulty = apply_faults(matrix, signal, step, rng)
        for j in np.argsort(names):
            keep = ~np.isnan(faulty.values[:, j])
            ids.append(np.full(keep.sum(), code[names[j]], dtype=np.uint32))
            ts.append(grid[keep])
            values.append(faulty.values[keep, j])
            late.append(faulty.late_us[keep, j])
    lag = np.concatenate(late)
    stamp = np.concatenate(ts)
    received = pl.Series(np.where(lag >= 0, stamp + lag, 0)).cast(pl.Datetime("us"))
    frame = pl.DataFrame(
        {
            "series_id": pl.Series(np.concatenate(ids)).replace_strict(
                dict(enumerate(every)), return_dtype=pl.String
            ),
            "ts": pl.Series(stamp).cast(pl.Datetime("us")).dt.replace_time_zone("UTC"),
            "value": np.concatenate(values),
            "received_at": received.dt.replace_time_zone("UTC"),
        }
    )
    return frame.with_columns(received_at=pl.when(pl.Series(lag >= 0)).then(pl.col("received_at")))


def write_city(out: Path, tables: dict[str, pl.DataFrame]) -> None:
    """Write the canonical tables to ``out`` via the store, and a raw feed sample under feed/."""
    store = Store(out)
    for name in TABLES:
        store.write(name, tables[name])
    write_feed(Path(out) / "feed" / "observations-feed.csv", tables)
