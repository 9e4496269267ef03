"""Offline/online parity: for every shipped task, the features serving computes from its online
state, fed live batch by batch, equal the features training computes in batch; and a model
that reads the target history and rain step by step forecasts in serving as in the backtest."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import citysim
from alerts import Level
from features import (
    KEY_COLUMNS,
    CityTables,
    FeatureSpec,
    TaskConfig,
    build_features,
    load_task,
    lookback,
    origin_range,
    parse_task,
    shipped_tasks_dir,
    target_history,
    task_tables,
)
from models import build_forecaster
from serving import MARGIN, OnlineState, TaskScorer, online_window
from training import CitybrainModel

START = datetime(2025, 7, 1, tzinfo=UTC)
DAYS = 18
HOUR = timedelta(hours=1)
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
    batch = build_features(
        task_tables(city, task, live_until=t1), [t1 - timedelta(hours=1), t1], with_target=False
    )
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


TINY_START = datetime(2025, 6, 1, tzinfo=UTC)


def test_the_online_window_keeps_each_signal_as_long_as_it_is_read(city: CityTables) -> None:
    """The hotline reads road speeds over 3 hours and rain over days (and, for SARIMAX, step
    by step over its filter window): each signal's readings are kept that long, the target's
    for its surge norm, and a signal it never reads (river levels) not at all."""
    task = load_task("hotline")
    span = timedelta(days=8)
    state = OnlineState(task, city, span, ("rain_area",))
    obs = state.tables.observations.join(city.series.select("series_id", "signal"), on="series_id")
    latest = obs["ts"].max()
    assert isinstance(latest, datetime)
    reach = {
        signal: latest - first
        for signal, first in obs.group_by("signal").agg(pl.col("ts").min()).iter_rows()
    }
    assert "water_level_m" not in reach and "water_level_m" in city.series["signal"].to_list()
    assert reach["speed_kmh"] <= timedelta(hours=3) + task.features.fill_limit + 2 * HOUR + MARGIN
    assert reach["rain_mm"] >= span
    assert all(reach[s] <= state.windows[s] for s in reach)
    # without the model's rain history the rain is kept only as long as the features read it
    assert OnlineState(task, city).windows["rain_mm"] < timedelta(days=6)


RAIN_TASK = {
    "name": "waterlogging-rain-sarimax",
    "domain": "waterlogging",
    "target": {"signal": "ponding_cm"},
    "frequency": "10m",
    "horizons": ["10m", "1h", "2h"],
    "quantiles": [0.1, 0.5, 0.9],
    "features": {
        "target_lags": ["10m", "30m"],
        "fill_limit": "20m",
        "observed": [
            {"name": "rain_gauge", "signal": "rain_mm", "link": "rain_gauge", "sums": ["1h"]}
        ],
        "known_ahead": [{"name": "fcst_rain", "variable": "rain_mm", "aggregate": "sum"}],
    },
    "model": {
        "family": "sarimax",
        "params": {
            "rain": "rain_gauge",
            "order": [1, 0, 0],
            "fourier": 0,
            "calendar": [],
            "fit_window": "2d",
            "filter_window": "12h",
            "n_jobs": 1,
        },
    },
}


def test_serving_forecasts_a_rain_sarimax_as_the_backtest_does(tiny_city: CityTables) -> None:
    """Serving keeps enough data for the model's history and its rain (the filter window and
    the rain windows before it, more than the features read) and hands both over: its
    forecast at an origin is the one the backtest makes there from the full record."""
    task = parse_task(RAIN_TASK)
    fit_end = TINY_START + timedelta(days=2)
    frame = build_features(
        task_tables(tiny_city, task, live_until=fit_end),
        origin_range(TINY_START, fit_end, timedelta(hours=1)),
    )
    spec = FeatureSpec.from_frame(frame, task, frame["series_id"].unique().to_list())
    record = target_history(
        task_tables(tiny_city, task, live_until=TINY_START + timedelta(days=3)),
        TINY_START,
        TINY_START + timedelta(days=3),
        covariates=("rain_gauge",),
    )
    model = build_forecaster(task.model, task=task, spec=spec).fit(frame, record.until(fit_end))
    wrapper = CitybrainModel(model, task, spec)
    assert wrapper.history_covariates == ("rain_gauge",)
    assert online_window(task, wrapper.history_span) > lookback(task) + MARGIN

    origin = fit_end + timedelta(hours=1)
    known = tiny_city.until(origin)
    since = origin - online_window(task, wrapper.history_span)
    windowed = replace(known, observations=known.observations.filter(pl.col("ts") >= since))
    scorer = TaskScorer(wrapper, "1", windowed)
    # the rain is kept for the model's filter window, not only for the features' hour
    assert scorer.state.windows["rain_mm"] >= wrapper.history_span > timedelta(hours=12)
    snap = scorer.score(now=origin)
    assert snap is not None and snap.origin == origin

    backtest = model.predict(
        build_features(
            task_tables(tiny_city, task, live_until=origin), [origin], with_target=False
        ),
        record,
    )
    columns = ["series_id", "horizon", "yhat", "q10", "q50", "q90"]
    assert_frame_equal(
        snap.forecasts.select(columns).sort("series_id", "horizon"),
        backtest.select(columns).sort("series_id", "horizon"),
    )


def _baseline_scorer(
    city: CityTables, task: TaskConfig, origin: datetime, fit_span: timedelta
) -> tuple[TaskScorer, pl.DataFrame]:
    """A scorer of the task's baseline, fitted on the hours before ``origin``, over the data
    serving would hold at ``origin`` (its window, as known then); and the frame it was fit on."""
    frame = build_features(
        task_tables(city, task, live_until=origin),
        origin_range(origin - fit_span, origin, HOUR),
    )
    spec = FeatureSpec.from_frame(frame, task, frame["series_id"].unique().to_list())
    model = build_forecaster(task.baseline, task=task, spec=spec).fit(frame)
    known = city.until(origin)
    since = origin - online_window(task)
    windowed = replace(
        known,
        observations=known.observations.filter(pl.col("ts") >= since),
        events=known.events.filter(pl.col("ts") >= since),
    )
    return TaskScorer(CitybrainModel(model, task, spec), "1", windowed), frame


def test_serving_scores_a_task_whose_targets_are_counted_from_events(city: CityTables) -> None:
    """12345 tickets become count series only once counted: serving finds its targets (and
    labels them) from the events, as training does."""
    origin = START + timedelta(days=DAYS - 2)
    scorer, frame = _baseline_scorer(city, load_task("hotline"), origin, timedelta(hours=6))
    snap = scorer.score(now=origin)
    assert snap is not None
    assert snap.forecasts["series_id"].n_unique() == frame["series_id"].n_unique() > 10
    assert snap.forecasts["series_id"].str.starts_with("hotline:").all()
    # the duty room sees the latest hour's count beside the forecast
    assert snap.summary["observed"].null_count() == 0
    assert (snap.summary["observed_ts"] == origin).all()


@pytest.mark.parametrize(("name", "unit"), [("hotline", "tickets/h"), ("traffic", "km/h")])
def test_every_domains_targets_are_named_and_graded_by_their_own_thresholds(
    city: CityTables, name: str, unit: str
) -> None:
    """Hotline and traffic warn too: each target named for people, in its unit, graded by its
    own thresholds (a surge over its norm, a share of its own free-flow speed)."""
    origin = START + timedelta(days=DAYS - 2)
    scorer, _ = _baseline_scorer(city, load_task(name), origin, timedelta(hours=3))
    snap = scorer.score(now=origin)
    assert snap is not None and scorer.unit == unit
    graded = scorer.assessments(snap)
    assert len(graded) > 10
    for a in graded:
        assert a.label is not None and a.series_id not in a.label and a.unit == unit
        assert set(a.probabilities) <= set(a.rule.levels) and a.rule.levels
    catalog = {r["series_id"]: r["attrs"] for r in city.series.iter_rows(named=True)}
    for a in graded:
        if name == "traffic":  # a share of the sensor's own free-flow speed
            free_flow = json.loads(catalog[a.series_id])["free_flow_kmh"]
            assert a.rule.thresholds[Level.BLUE] == pytest.approx(0.4 * free_flow)
        else:  # twice a norm of at least 4 tickets an hour
            assert a.rule.thresholds[Level.BLUE] >= 8.0


def test_an_unforecast_surge_warns_from_the_counts_the_forecasts_did_not_see(
    city: CityTables,
) -> None:
    """A burst of calls nobody forecast (a main bursts): two hours above the forecasts' q90
    warn at once, certain, with what was seen and what was expected in the text."""
    from alerts import render

    task = load_task("hotline")
    origin = START + timedelta(days=DAYS - 2)
    burst = pl.DataFrame(
        {
            "event_id": [f"burst-{i:03d}" for i in range(120)],
            "ts": [
                origin - timedelta(minutes=170) + i * timedelta(minutes=1.5) for i in range(120)
            ],
            "source": "hotline",
            "category": "water_supply",
            "area_id": "gulou",
            "lat": 26.09,
            "lon": 119.29,
            "attrs": "{}",
        },
        schema_overrides={"ts": pl.Datetime("us", "UTC")},
    )
    surged = replace(city, events=pl.concat([city.events, burst.select(city.events.columns)]))
    scorer, _ = _baseline_scorer(surged, task, origin, timedelta(hours=6))
    snap = scorer.score(now=origin)
    assert snap is not None
    by_id = {a.series_id: a for a in scorer.assessments(snap)}
    hit = by_id["hotline:gulou:water_supply"]
    assert hit.unforecast_hours >= 2 and hit.observed is not None and hit.observed >= 30
    assert hit.unforecast_bound is not None and hit.observed > hit.unforecast_bound
    assert hit.probabilities[Level.BLUE] == 1.0
    assert "预测外激增" in render(hit, Level.BLUE)
    # the others, with nothing unusual, are not flagged
    assert sum(a.unforecast_hours > 0 for a in by_id.values()) <= 3


def test_a_post_that_cannot_change_a_forecast_does_not_recompute_it(city: CityTables) -> None:
    """An hourly task's origin moves once an hour: rows inside the next hour change nothing
    until then, so the snapshot is kept; a late row at or before the origin recomputes it."""
    origin = START + timedelta(days=DAYS - 2)
    scorer, _ = _baseline_scorer(city, load_task("hotline"), origin, timedelta(hours=3))
    first = scorer.score(now=origin)
    assert first is not None and scorer.score(now=origin) is first
    rain = city.series.filter(pl.col("signal") == "rain_mm")["series_id"][0]

    def post(ts: datetime) -> None:
        utc = pl.Datetime("us", "UTC")
        row = {"series_id": [rain], "ts": [ts], "value": [1.0], "received_at": [ts]}
        frame = pl.DataFrame(row, schema_overrides={"ts": utc, "received_at": utc})
        scorer.state.add_observations(frame)

    post(origin + timedelta(minutes=20))
    assert scorer.score(now=origin) is first
    post(origin - timedelta(minutes=20))  # a late arrival the features at the origin read
    again = scorer.score(now=origin)
    assert again is not first and again is not None and again.origin == first.origin


def test_the_window_stays_sorted_and_unique_however_rows_arrive(city: CityTables) -> None:
    """Rows later than the window merge in by a stable sort on the series alone; a late row or
    a correction takes the full path. Either way the window is what sorting and de-duplicating
    everything would give (the features read it in that order)."""
    task = load_task("waterlogging")
    t0 = START + timedelta(days=DAYS - 2)
    known = city.until(t0)
    state = OnlineState(task, known)
    ponding = city.observations.filter(pl.col("series_id").str.starts_with("ponding"))
    later = ponding.filter((pl.col("ts") > t0) & (pl.col("ts") <= t0 + timedelta(minutes=30)))
    late = ponding.filter(pl.col("ts") <= t0).sort("ts").tail(5)
    corrected = late.with_columns(pl.col("value") + 1.5)
    for rows in (later.sample(fraction=1.0, shuffle=True, seed=3), corrected):
        state.add_observations(rows)
        window = state.tables.observations
        assert window.equals(window.sort("series_id", "ts"))
        assert window.select("series_id", "ts").is_duplicated().sum() == 0
    assert window.join(later.select("series_id", "ts"), on=["series_id", "ts"]).height == (
        later.height
    )
    got = window.join(corrected.select("series_id", "ts", pl.col("value").alias("want")),
                      on=["series_id", "ts"])  # fmt: skip
    assert got.height == corrected.height and (got["value"] == got["want"]).all()
