"""One battery for every model family: the Forecast contract on tiny-city features."""

from __future__ import annotations

import functools
import importlib.util
import itertools
import pickle
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cloudpickle
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from features import (
    SIGNALS,
    CityTables,
    FeatureSpec,
    ModelSpec,
    NotFittedError,
    TargetHistory,
    TaskConfig,
    build_features,
    origin_range,
    parse_task,
    target_history,
    task_tables,
)
from models import FAMILIES, Forecaster, build_forecaster, forecast_columns
from training import metrics

START = datetime(2025, 6, 1, tzinfo=UTC)
STEP = timedelta(minutes=10)
SMALL = {
    "lightgbm": {"n_estimators": 30, "min_child_samples": 5},
    "sequence": {"epochs": 3},
    "graph": {"epochs": 3},
}

TASK = parse_task(
    {
        "name": "waterlogging-contract",
        "domain": "waterlogging",
        "target": {"signal": "ponding_cm"},
        "frequency": "10m",
        "horizons": ["10m", "1h", "3h"],
        "quantiles": [0.05, 0.1, 0.5, 0.9, 0.95],
        "features": {
            "target_lags": ["10m", "30m", "1h"],
            "target_maxes": ["3h"],
            "target_changes": ["30m"],
            "fill_limit": "30m",
            "season_ref": "10m",
            "observed": [
                {
                    "name": "rain_gauge",
                    "signal": "rain_mm",
                    "link": "rain_gauge",
                    "sums": ["10m", "30m", "1h", "3h"],
                },
                {"name": "river", "signal": "water_level_m", "link": "river_gauge", "level": True},
            ],
            "known_ahead": [{"name": "fcst_rain", "variable": "rain_mm", "aggregate": "sum"}],
            "calendar": ["hour"],
            "rainstorm_signal": True,
        },
        "model": {"family": "lightgbm"},
        "train": {"quiet_fraction": 0.5},
    }
)


@functools.cache
def tiny_city(days: int, seed: int) -> CityTables:
    path = Path(__file__).resolve().parents[1] / "conftest.py"
    spec = importlib.util.spec_from_file_location("_citybrain_root_conftest", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_tiny_city(days=days, seed=seed)


@functools.cache
def features(seed: int) -> pl.DataFrame:
    """Five days, origins every 10 minutes from the fourth hour to three hours before the end."""
    origins = origin_range(
        START + timedelta(hours=4), START + timedelta(days=5) - timedelta(hours=3), STEP
    )
    return build_features(task_tables(tiny_city(5, seed), TASK, live_until=max(origins)), origins)


@functools.cache
def history(seed: int) -> TargetHistory:
    return target_history(
        task_tables(tiny_city(5, seed), TASK, live_until=START + timedelta(days=5)),
        START,
        START + timedelta(days=5),
    )


def spec_of(frame: pl.DataFrame) -> FeatureSpec:
    return FeatureSpec.from_frame(frame.drop("y", "series_code"), TASK, ["pond-1", "pond-2"])


def new_model(family: str, task: TaskConfig = TASK) -> Forecaster:
    frame = features(0)
    return build_forecaster(
        ModelSpec(family=family), task=task, spec=spec_of(frame), overrides=SMALL.get(family)
    )


@functools.cache
def fitted(family: str) -> Forecaster:
    return new_model(family).fit(features(0), history(0))


@pytest.fixture(params=sorted(FAMILIES))
def family(request: pytest.FixtureRequest) -> str:
    return request.param


def test_the_feature_spec_matches_what_build_features_returns() -> None:
    frame = features(0)
    spec = spec_of(frame)
    assert set(spec.columns) <= set(frame.columns)
    assert "series_code" in spec.columns


def test_predict_returns_the_forecast_columns_one_row_per_input_row(family: str) -> None:
    frame = features(1)
    out = fitted(family).predict(frame, history(1))
    assert out.columns == forecast_columns(TASK)
    assert out.height == frame.height
    assert_frame_equal(
        out.select("series_id", "origin", "ts", "horizon"),
        frame.select("series_id", "origin", "ts", "horizon"),
    )
    assert set(out["model"].to_list()) == {family}
    assert out.select(pl.all().exclude("model").null_count()).sum_horizontal().item() == 0


def test_quantiles_are_ordered_in_every_row(family: str) -> None:
    out = fitted(family).predict(features(1), history(1))
    qcols = [c for c in forecast_columns(TASK) if c.startswith("q")]
    for lo, hi in itertools.pairwise(qcols):
        assert (out[lo] <= out[hi]).all(), (lo, hi)


def test_predict_does_not_mutate_its_input(family: str) -> None:
    frame = features(1)
    before = frame.clone()
    fitted(family).predict(frame, history(1))
    assert_frame_equal(frame, before)
    train = features(0)
    train_before = train.clone()
    new_model(family).fit(train, history(0))
    assert_frame_equal(train, train_before)


def test_predict_before_fit_raises_not_fitted(family: str) -> None:
    with pytest.raises(NotFittedError):
        new_model(family).predict(features(1), history(1))


@pytest.mark.parametrize("dumper", [pickle, cloudpickle], ids=["pickle", "cloudpickle"])
def test_a_pickled_model_gives_the_same_forecast(family: str, dumper) -> None:
    model = fitted(family)
    frame = features(1)
    again = pickle.loads(dumper.dumps(model))
    assert_frame_equal(
        again.predict(frame, history(1)), model.predict(frame, history(1)), check_exact=True
    )


def test_forecasts_never_fall_below_the_signals_physical_low(family: str) -> None:
    low = SIGNALS[TASK.target.signal].low
    frame = features(1)
    # a sensor that was just zeroed and a gap in the reference: the floor must still hold
    edge = frame.with_columns(
        pl.when(pl.col("horizon") == timedelta(hours=1))
        .then(None)
        .otherwise(pl.col("seasonal_ref"))
        .alias("seasonal_ref"),
        pl.lit(0.0).alias("target_now"),
    )
    for f in (frame, edge):
        out = fitted(family).predict(f, history(1))
        for c in ("yhat", *[c for c in out.columns if c.startswith("q")]):
            assert out[c].min() >= low, c


def test_error_stays_under_a_generous_ceiling_on_an_unseen_tiny_city(family: str) -> None:
    frame = features(1)
    out = (
        fitted(family)
        .predict(frame, history(1))
        .join(
            frame.select("series_id", "origin", "horizon", "y"),
            on=["series_id", "origin", "horizon"],
        )
    )
    assert out.height == frame.height
    zero = metrics.mae(out.with_columns(pl.lit(0.0).alias("yhat")))
    error = metrics.mae(out)
    # on this city the zero forecast is off by about 2.9 cm and both families by under 2 cm
    assert error <= 3.0
    assert error <= 0.85 * zero


def test_a_forecast_reads_no_history_after_its_origin(family: str) -> None:
    """Garbage after a cut-off leaves every forecast from an origin at or before it unchanged."""
    frame = features(1)
    hist = history(1)
    cut = START + timedelta(days=3)
    spoiled = hist.values.copy()
    spoiled[:, hist.bins([cut])[0] + 1 :] = 1e3
    dirty = TargetHistory(spoiled, hist.series_ids, hist.start, hist.step, hist.series)
    early = frame.filter(pl.col("origin") <= cut)
    model = fitted(family)
    assert_frame_equal(model.predict(early, dirty), model.predict(early, hist))
