"""Run the whole city: weather, forecasts, rivers, ponding, traffic, hotline, faults, tables.

Each component draws from its own random stream (``seed`` plus a fixed component number), so a
change in one component's draws never shifts another's, and the same seed gives the same city.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
from tqdm import tqdm

from citysim.clock import Clock
from citysim.faults import apply_faults
from citysim.feed import write_feed
from citysim.forecasts import forecast_weather
from citysim.geography import DISTRICTS, Layout, areas_frame, build_layout, series_frame
from citysim.hotline import hotline_events, simulate_outages, ticket_rates
from citysim.hydrology import Rivers, simulate_rivers, simulate_tide
from citysim.ponding import ponding_depth
from citysim.signals import rainstorm_events
from citysim.traffic import simulate_traffic
from citysim.weather import draw_storms, simulate_rain, simulate_temperature
from features import KEYS, TABLES, Store, conform

STAGES = ("weather", "forecasts", "rivers", "ponding", "traffic", "hotline", "tables")
DISTRICT_TEMP_OFFSET = {"gulou": 0.6, "taijiang": 0.5, "cangshan": 0.2, "jinan": 0.0}
DISTRICT_TEMP_OFFSET |= {"mawei": -0.2, "changle": -0.5}
STATION_OFFSET = np.array([0.6, 0.2, -0.2, -0.5])  # gulou, cangshan, mawei, changle

# (signal, series ids, steps x series values, minutes per step): one observed signal
_Matrix = tuple[str, list[str], np.ndarray, int]


@dataclass(frozen=True)
class _CityWeather:
    """The weather stage's results that the later stages read."""

    rain: np.ndarray  # (steps, gauges) mm per 10 minutes
    typhoon: np.ndarray  # (steps,) 0..1 strength
    rain_h: np.ndarray  # (hours, gauges) mm per hour
    district_rain_h: np.ndarray  # (hours, districts) mean mm per hour
    temp_st: np.ndarray  # (hours, stations) degC
    district_temp: np.ndarray  # (hours, districts) degC


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

    The stages run in the order of ``STAGES``, each on its own random stream; the order of the
    draws within a stream is part of what makes the same seed give the same city.

    Args:
        typhoons: extra typhoon landfalls (UTC) besides the natural ones, so that a short test
            period can be made to contain a storm.
    """
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    clock, lay = Clock(start, days), build_layout()
    rng = {name: np.random.default_rng([seed, k]) for k, name in enumerate((*STAGES, "faults"))}
    bar = tqdm(total=len(STAGES), desc="simulate", disable=not progress, leave=False)
    weather = _simulate_weather(clock, lay, rng["weather"], typhoons=typhoons)
    bar.update()
    fc = forecast_weather(
        clock, weather.district_rain_h, weather.district_temp, list(DISTRICTS), rng["forecasts"]
    )
    bar.update()
    tide, rivers = _simulate_water(clock, lay, weather, fc_rain=fc.rain, rng=rng["rivers"])
    bar.update()
    ponding = ponding_depth(lay, weather.rain, rivers.level, rng["ponding"])
    bar.update()
    traffic = simulate_traffic(clock, lay, weather.rain, ponding, rng["traffic"])
    bar.update()
    hotline, utility, weather_ev = _simulate_calls(
        clock, lay, weather, fc_rain=fc.rain, ponding=ponding, rng=rng["hotline"]
    )
    bar.update()
    matrices = _matrices(
        lay, weather, tide=tide, rivers=rivers, ponding=ponding, speed=traffic.speed
    )
    out = _canonical_tables(
        lay,
        observations=_observations(clock, matrices, rng["faults"]),
        events=(hotline, traffic.incidents, utility, weather_ev),
        forecasts=fc.frame,
    )
    bar.update()
    bar.close()
    return out


def _simulate_weather(
    clock: Clock, lay: Layout, rng: np.random.Generator, *, typhoons: Sequence[dt.datetime]
) -> _CityWeather:
    """Storms, gauge rain and station temperatures, with the hourly and per-district views of
    them that forecasts, outages and tickets are driven by."""
    storms = draw_storms(clock, rng, typhoons)
    rain, typhoon = simulate_rain(clock, lay, rng, storms)
    rain_h = _hourly(rain, 6, np.sum)
    district_rain_h = _by_district(rain_h, lay.rain_area, np.mean)
    temp_st = simulate_temperature(clock, rng, rain_h.mean(1), STATION_OFFSET)
    offsets = np.array([DISTRICT_TEMP_OFFSET[d] for d in DISTRICTS])
    district_temp = temp_st.mean(1, keepdims=True) - STATION_OFFSET.mean() + offsets[None, :]
    return _CityWeather(
        rain=rain,
        typhoon=typhoon,
        rain_h=rain_h,
        district_rain_h=district_rain_h,
        temp_st=temp_st,
        district_temp=district_temp,
    )


def _simulate_water(
    clock: Clock,
    lay: Layout,
    weather: _CityWeather,
    *,
    fc_rain: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, Rivers]:
    """The tide and the rivers; operators draw a reach down while its district's forecast
    expects a storm (40 mm or more) within 24 hours of the latest issue."""
    names = list(DISTRICTS)
    ts10 = clock.grid(10)
    tide = simulate_tide(ts10, weather.typhoon, rng)
    ahead = fc_rain[:, :24].sum(1) >= 40.0  # (issues, districts): storm expected within 24 h
    step_issue = np.arange(len(ts10)) // 36
    level_d = np.array([names.index(a) for a in lay.level_area])
    drawdown = ahead[step_issue][:, level_d]
    reach_rain = weather.rain[:, lay.level_rain]
    return tide, simulate_rivers(lay, reach_rain, tide, drawdown)


def _simulate_calls(
    clock: Clock,
    lay: Layout,
    weather: _CityWeather,
    *,
    fc_rain: np.ndarray,
    ponding: np.ndarray,
    rng: np.random.Generator,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Outages, hotline tickets and rainstorm warnings: the city's events besides incidents.

    Returns:
        hotline tickets, utility outages and rainstorm events, in the order they are drawn.
    """
    typhoon_h = _hourly(weather.typhoon, 6, np.max)
    outages, utility = simulate_outages(clock, typhoon_h, weather.district_temp, rng)
    over = _hourly(np.clip(ponding - 5, 0, None), 6, np.max)
    rate = ticket_rates(
        clock,
        ponding_h=_by_district(over, lay.ponding_area, np.sum),
        rain_h=weather.district_rain_h,
        typhoon_h=typhoon_h,
        temp_h=weather.district_temp,
        outages=outages,
    )
    hotline = hotline_events(clock, lay, rate, rng)
    centres = np.array([[(b[0] + b[2]) / 2, (b[1] + b[3]) / 2] for _, _, b in DISTRICTS.values()])
    weather_ev = rainstorm_events(
        clock,
        _by_district(weather.rain_h, lay.rain_area, np.max),
        fc_rain,
        list(DISTRICTS),
        centres,
    )
    return hotline, utility, weather_ev


def _matrices(
    lay: Layout,
    weather: _CityWeather,
    *,
    tide: np.ndarray,
    rivers: Rivers,
    ponding: np.ndarray,
    speed: np.ndarray,
) -> list[_Matrix]:
    """Every observed signal as it is reported: rounded as the instruments round."""
    return [
        ("rain_mm", lay.rain_ids, weather.rain, 10),
        ("water_level_m", lay.level_ids, np.round(rivers.level, 3), 10),
        ("tide_level_m", ["tide-minjiang"], np.round(tide[:, None], 3), 10),
        ("ponding_cm", lay.ponding_ids, ponding, 10),
        ("pump_rate_m3s", lay.pump_ids, np.round(rivers.pump, 2), 10),
        ("gate_opening", lay.gate_ids, np.round(rivers.gate, 3), 10),
        ("speed_kmh", lay.road_ids, speed, 5),
        ("temperature_c", lay.temp_ids, weather.temp_st, 60),
    ]


def _canonical_tables(
    lay: Layout,
    *,
    observations: pl.DataFrame,
    events: Sequence[pl.DataFrame],
    forecasts: pl.DataFrame,
) -> dict[str, pl.DataFrame]:
    """The five canonical tables, conformed to their schemas and sorted by their keys; empty
    event frames are left out of the concatenation."""
    tables = {
        "areas": areas_frame(),
        "series": series_frame(lay),
        "observations": observations,
        "events": pl.concat([f for f in events if f.height], how="diagonal_relaxed"),
        "weather_forecasts": forecasts,
    }
    return {name: conform(name, tables[name]).sort(KEYS[name]) for name in TABLES}


def _observations(clock: Clock, matrices: list[_Matrix], rng: np.random.Generator) -> pl.DataFrame:
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
