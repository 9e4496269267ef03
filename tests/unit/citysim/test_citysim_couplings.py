from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from citysim.clock import Clock
from citysim.geography import build_layout
from citysim.hotline import ticket_rates
from citysim.hydrology import reservoir_budget, simulate_rivers
from citysim.traffic import simulate_traffic


def test_forced_typhoon_brings_a_heavy_rain_day(obs):
    rain = obs.filter(pl.col("signal") == "rain_mm")
    daily = rain.group_by("series_id", pl.col("ts").dt.date()).agg(pl.col("value").sum())
    assert daily["value"].max() >= 100


def test_forced_typhoon_ponds_some_sensors_at_least_ten_cm(obs, landfall):
    storm = obs.filter(
        pl.col("signal") == "ponding_cm",
        pl.col("ts").is_between(
            landfall - dt.timedelta(hours=30), landfall + dt.timedelta(hours=30)
        ),
    )
    assert storm.filter(pl.col("value") >= 10)["series_id"].n_unique() >= 2


def test_forced_typhoon_raises_river_levels(obs, landfall):
    level = obs.filter(pl.col("signal") == "water_level_m")
    before = level.filter(pl.col("ts") < landfall - dt.timedelta(hours=40))
    during = level.filter(
        pl.col("ts").is_between(
            landfall - dt.timedelta(hours=12), landfall + dt.timedelta(hours=24)
        )
    )
    rise = (
        during.group_by("series_id")
        .agg(pl.col("value").median().alias("peak"))
        .join(
            before.group_by("series_id").agg(pl.col("value").median().alias("base")), on="series_id"
        )
        .select((pl.col("peak") - pl.col("base")).median())
        .item()
    )
    assert rise > 0.2


def test_reservoir_budget_balances_for_every_reach():
    lay = build_layout()
    rng = np.random.default_rng(0)
    steps = 1000
    rain = np.where(rng.random((steps, len(lay.level_ids))) < 0.2, rng.gamma(2, 3, (steps, 20)), 0)
    tide = 3 + 1.5 * np.sin(np.arange(steps) / 12.42 / 6 * 2 * np.pi)
    drawdown = np.zeros((steps, 20), bool)
    drawdown[300:400] = True
    rivers = simulate_rivers(lay, rain, tide, drawdown)
    assert rivers.storage.min() >= 0
    for reach in range(len(lay.level_ids)):
        budget = reservoir_budget(rivers, lay, reach)
        scale = max(budget.inflow_m3, 1.0)
        assert abs(budget.residual_m3) <= 1e-9 * scale, (reach, budget)


def test_traffic_slows_in_rain_and_where_ponding_is_deep():
    clock, lay = Clock(dt.date(2025, 3, 3), 1), build_layout()
    dry = np.zeros((144, len(lay.rain_ids)))
    wet = np.full_like(dry, 5.0)  # 30 mm/h everywhere
    no_pond = np.zeros((144, len(lay.ponding_ids)))
    deep = np.full_like(no_pond, 40.0)

    def mean_speed(rain, pond):
        return simulate_traffic(clock, lay, rain, pond, np.random.default_rng(1)).speed

    base = mean_speed(dry, no_pond)
    assert mean_speed(wet, no_pond).mean() < 0.9 * base.mean()
    flooded = lay.road_ponding >= 0
    assert flooded.any()
    assert mean_speed(dry, deep)[:, flooded].mean() < 0.3 * base[:, flooded].mean()
    assert base.min() >= 0 and base.max() <= 160


def test_hotline_waterlogging_rate_rises_after_ponding():
    clock = Clock(dt.date(2025, 6, 2), 2)
    hours = 48
    ponding = np.zeros((hours, 6))
    ponding[20:24, 0] = 60.0
    kwargs = dict(
        rain_h=np.zeros((hours, 6)),
        typhoon_h=np.zeros(hours),
        temp_h=np.full((hours, 6), 25.0),
        outages=np.zeros((hours, 6, 2)),
    )
    calm = ticket_rates(clock, ponding_h=np.zeros_like(ponding), **kwargs)
    flooded = ticket_rates(clock, ponding_h=ponding, **kwargs)
    from citysim.hotline import CATEGORIES

    k = CATEGORIES.index("waterlogging")
    assert (flooded[21:25, 0, k] > 3 * calm[21:25, 0, k]).all()
    assert np.allclose(flooded[:20, :, k], calm[:20, :, k])


def test_hotline_waterlogging_tickets_surge_in_the_typhoon(city, landfall):
    tickets = city["events"].filter(pl.col("source") == "hotline")
    per_day = (
        tickets.group_by(pl.col("ts").dt.date().alias("day"))
        .agg((pl.col("category") == "waterlogging").sum().alias("n"))
        .sort("day")
    )
    quiet, storm = per_day["n"][0], per_day.filter(pl.col("day") == landfall.date())["n"].item()
    assert storm > 3 * max(quiet, 1)


def test_hotline_has_many_categories_and_a_plausible_daily_volume(city):
    tickets = city["events"].filter(pl.col("source") == "hotline")
    assert tickets["category"].n_unique() >= 10
    first = tickets.filter(pl.col("ts").dt.date() == dt.date(2025, 7, 1)).height
    assert 800 <= first <= 3000
    assert tickets["event_id"].n_unique() == tickets.height


def test_events_include_signals_incidents_and_outages(city):
    sources = set(city["events"]["source"])
    assert {"hotline", "traffic", "weather", "utility"} <= sources
    signals = city["events"].filter(pl.col("source") == "weather")
    assert signals["category"].str.starts_with("rainstorm_").all()


def test_forecasts_cover_rain_temperature_and_tide(city):
    fc = city["weather_forecasts"]
    assert set(fc["variable"]) == {"rain_mm", "temperature_c", "tide_level_m"}
    assert (fc["valid_at"] > fc["issued_at"]).all()
    assert set(fc["issued_at"].dt.hour().unique()) == {0, 6, 12, 18}
    assert fc.filter(pl.col("variable") == "tide_level_m")["area_id"].unique().to_list() == [
        "fuzhou"
    ]
