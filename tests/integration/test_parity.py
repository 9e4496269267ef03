"""Offline/online parity: for every shipped task, the features serving computes from its online
state, fed live batch by batch, equal the features training computes in batch."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import citysim
from features.pipeline import KEY_COLUMNS, build_features, lookback
from features.tables import CityTables
from features.tasks import load_task, shipped_tasks_dir
from serving.online import MARGIN, OnlineState

START = datetime(2025, 7, 1, tzinfo=UTC)
DAYS = 18
SHIPPED = sorted(p.stem for p in shipped_tasks_dir().glob("*.yaml"))


@pytest.fixture(scope="module")
def city() -> CityTables:
    tables = citysim.simulate(
        days=DAYS, seed=11, start=START.date(), typhoons=[START + timedelta(days=DAYS - 1)]
    )
    return CityTables(**tables)


def _arrival(frame: pl.DataFrame) -> pl.Expr:
    return pl.coalesce("received_at", "ts")


@pytest.mark.parametrize("name", SHIPPED)
def test_online_features_fed_live_equal_batch_features(city: CityTables, name: str) -> None:
    task = load_task(name)
    t1 = START + timedelta(days=DAYS) - timedelta(hours=5)
    t0 = t1 - timedelta(hours=3)
    batch = build_features(city, task, [t1 - timedelta(hours=1), t1], with_target=False)
    batch = batch.filter(pl.col("origin") == t1)

    # serving starts from the store as it was at t0, windowed like serving.runtime does
    known = city.until(t0)
    since = t0 - lookback(task) - MARGIN
    state = OnlineState(
        task,
        replace(
            known,
            observations=known.observations.filter(pl.col("ts") >= since),
            events=known.events.filter(pl.col("ts") >= since),
            weather_forecasts=known.weather_forecasts.filter(pl.col("valid_at") >= since),
        ),
    )
    # then live data arrives, 10 minutes at a time, in order of arrival
    arriving = city.observations.with_columns(_arrival(city.observations).alias("_at")).filter(
        (pl.col("_at") > t0) & (pl.col("_at") <= t1)
    )
    events = city.events.filter((pl.col("ts") > t0) & (pl.col("ts") <= t1))
    forecasts = city.weather_forecasts.filter(
        (pl.col("issued_at") > t0) & (pl.col("issued_at") <= t1)
    )
    tick = t0
    while tick < t1:
        nxt = tick + timedelta(minutes=10)
        state.add_observations(
            arriving.filter((pl.col("_at") > tick) & (pl.col("_at") <= nxt)).drop("_at")
        )
        state.add_events(events.filter((pl.col("ts") > tick) & (pl.col("ts") <= nxt)))
        state.add_forecasts(
            forecasts.filter((pl.col("issued_at") > tick) & (pl.col("issued_at") <= nxt))
        )
        tick = nxt
    online = state.features_at(t1)

    assert online.height == batch.height > 0
    assert online.columns == batch.columns
    assert_frame_equal(
        online.sort(KEY_COLUMNS),
        batch.sort(KEY_COLUMNS),
        check_exact=False,
        rel_tol=1e-9,
        abs_tol=1e-9,
    )
