"""SARIMAX with rain as a regressor: the trailing sums, the forecast path, what it learns, and
that it reads observed rain only up to each origin and forecast rain only as issued by it."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from features import ConfigError, DataError, FeatureSpec, TargetHistory, parse_task
from models import statistical
from models.calibration import CalibratedForecaster
from models.ensemble import EnsembleForecaster
from models.exogenous import (
    RainPath,
    forecast_steps,
    rain_columns,
    regressors,
    trailing_sums,
)
from models.registry import build_forecaster
from models.statistical import SarimaxForecaster

START = datetime(2025, 6, 2, tzinfo=UTC)
HOUR = timedelta(hours=1)
HORIZONS = (1, 3, 6)
LEVEL = dict(order=[1, 0, 0], fourier=0, calendar=[], n_jobs=1)


def make_task(**params: object):
    return parse_task(
        {
            "name": "rain-unit",
            "domain": "test",
            "target": {"signal": "water_level_m"},
            "frequency": "1h",
            "horizons": [f"{h}h" for h in HORIZONS],
            "features": {
                "observed": [
                    {
                        "name": "rain_gauge",
                        "signal": "rain_mm",
                        "link": "rain_gauge",
                        "sums": ["1h"],
                    },
                    {
                        "name": "river",
                        "signal": "water_level_m",
                        "link": "river_gauge",
                        "level": True,
                    },
                ],
                "known_ahead": [
                    {"name": "fcst_rain", "variable": "rain_mm", "aggregate": "sum"},
                    {"name": "fcst_temp", "variable": "temperature_c", "aggregate": "at"},
                ],
            },
            "model": {"family": "sarimax", "params": params},
        }
    )


def build(**params: object) -> SarimaxForecaster:
    task = make_task()
    model = build_forecaster(
        task.model, task=task, spec=FeatureSpec(task=task.name, columns=()), overrides=params
    )
    assert isinstance(model, SarimaxForecaster)
    return model


def storms(n: int, seed: int) -> np.ndarray:
    """Hourly rain: dry mostly, a storm of a few hours now and then."""
    rng = np.random.default_rng(seed)
    rain = np.zeros(n)
    for start in rng.choice(n - 8, size=n // 40, replace=False):
        rain[start : start + rng.integers(2, 7)] += rng.gamma(2.0, 4.0)
    return rain


def level_after_rain(rain: np.ndarray, seed: int) -> np.ndarray:
    """A river level that rises with the last three hours' rain, over AR(1) noise."""
    rng = np.random.default_rng(seed)
    three = np.convolve(rain, np.ones(3))[: rain.size]
    noise = np.zeros(rain.size)
    for t in range(1, rain.size):
        noise[t] = 0.8 * noise[t - 1] + rng.normal(0, 0.1)
    return 2.0 + 0.05 * three + noise


def history(values: np.ndarray, rain: np.ndarray | None) -> TargetHistory:
    values = np.atleast_2d(values)
    ids = tuple(f"s{i}" for i in range(values.shape[0]))
    covariates = {} if rain is None else {"rain_gauge": np.atleast_2d(rain)}
    return TargetHistory(
        values, ids, START, HOUR, pl.DataFrame({"series_id": list(ids)}), covariates
    )


def frame(hist: TargetHistory, origins: list[datetime], future_rain: np.ndarray) -> pl.DataFrame:
    """Rows for every series, origin and horizon; ``fcst_rain`` is ``future_rain`` summed from
    the origin to the horizon (a perfect forecast where it is the observed rain)."""
    rows = []
    for i, sid in enumerate(hist.series_ids):
        rain = np.atleast_2d(future_rain)[i]
        for o in origins:
            b = int(hist.bins([o])[0])
            for h in HORIZONS:
                total = float(rain[b + 1 : b + h + 1].sum())
                rows.append((sid, o, timedelta(hours=h), o + timedelta(hours=h), total))
    return pl.DataFrame(
        rows,
        schema={
            "series_id": pl.String,
            "origin": pl.Datetime("us", "UTC"),
            "horizon": pl.Duration("us"),
            "ts": pl.Datetime("us", "UTC"),
            "fcst_rain": pl.Float64,
        },
        orient="row",
    )


def test_trailing_sums_by_hand() -> None:
    steps = np.array([1.0, np.nan, 2.0, 0.0, 3.0])
    sums = trailing_sums(steps, (1, 3))
    # from position 2 (the longest window less one) on; missing rain counts as none
    assert sums.tolist() == [[2.0, 3.0], [0.0, 2.0], [3.0, 5.0]]


def test_rain_columns_run_from_observed_into_forecast() -> None:
    observed = np.array([[1.0, 2.0, 3.0]])  # lead 1, window of 2 steps, the origin last
    path = RainPath(observed, np.array([[10.0, 20.0]]))
    past, ahead = rain_columns(path, (1, 2))
    assert past[0].tolist() == [[2.0, 3.0], [3.0, 5.0]]
    assert ahead[0].tolist() == [[10.0, 13.0], [20.0, 30.0]]


def test_forecast_steps_spread_each_increment_between_horizons() -> None:
    origin = START
    rows = pl.DataFrame(
        {
            "series_id": ["a"] * 3 + ["b"] * 3,
            "origin": [origin] * 6,
            "horizon": [timedelta(hours=h) for h in (1, 2, 4)] * 2,
            "fcst_rain": [1.0, 3.0, 3.0, None, None, None],
        }
    )
    pairs, steps = forecast_steps(rows, "fcst_rain", HOUR, 6)
    assert pairs["series_id"].to_list() == ["a", "b"]
    # 1 in the first hour, 2 in the second, nothing after; b had no forecast issued
    assert steps.tolist() == [[1.0, 2.0, 0.0, 0.0, 0.0, 0.0], [0.0] * 6]
    pairs, steps = forecast_steps(rows.filter(pl.col("horizon") != HOUR), "fcst_rain", HOUR, 4)
    assert steps[0].tolist() == [1.5, 1.5, 0.0, 0.0]  # 3 mm in two hours, spread evenly


def test_rain_makes_the_level_forecastable() -> None:
    """A level driven by rain: with rain (forecast perfectly) SARIMAX forecasts it with a
    fraction of the error it makes without, and learns the rise per millimetre."""
    n = 50 * 24
    rain = storms(n, seed=1)
    y = level_after_rain(rain, seed=2)
    fit_end = 40 * 24
    origins = [START + k * HOUR for k in range(fit_end, n - 7, 5)]
    with_rain = history(y, rain)
    f = frame(with_rain, origins, rain)
    fit_frame = frame(with_rain, [START + k * HOUR for k in range(48, fit_end - 7, 2)], rain)
    errors = {}
    for name, params in {"rain": {"rain": "rain_gauge"}, "none": {}}.items():
        model = build(**LEVEL, **params).fit(fit_frame, with_rain.until(START + fit_end * HOUR))
        out = model.predict(f, with_rain).join(
            pl.DataFrame({"ts": [START + k * HOUR for k in range(n)], "y": y}), on="ts"
        )
        errors[name] = (out["yhat"] - out["y"]).abs().mean()
        if name == "rain":
            beta = model.fitted_["s0"].arrays["beta"][-3:]  # 1h, 3h, 6h sums
            assert abs(beta[1] - 0.05) < 0.015 and abs(beta[0]) < 0.02 and abs(beta[2]) < 0.02
    assert errors["rain"] < 0.6 * errors["none"]


def test_a_forecast_reads_rain_only_up_to_its_origin() -> None:
    n = 30 * 24
    rain = storms(n, seed=3)
    y = level_after_rain(rain, seed=4)
    hist = history(y, rain)
    cut = START + 20 * 24 * HOUR
    model = build(**LEVEL, rain="rain_gauge").fit(
        frame(hist, [START + k * HOUR for k in range(24, 20 * 24 - 7, 3)], rain), hist.until(cut)
    )
    origin = START + 25 * 24 * HOUR
    origins = [origin - k * HOUR for k in range(0, 40, 7)]
    f = frame(hist, origins, rain)
    spoiled_rain = rain.copy()
    spoiled_rain[int(hist.bins([origin])[0]) + 1 :] = 500.0
    spoiled_y = y.copy()
    spoiled_y[int(hist.bins([origin])[0]) + 1 :] = -50.0
    assert_frame_equal(model.predict(f, history(spoiled_y, spoiled_rain)), model.predict(f, hist))
    # the forecast path is the frame's: another forecast changes the forecast
    wetter = model.predict(frame(hist, origins, rain + 1.0), hist)
    assert (wetter["yhat"] > model.predict(f, hist)["yhat"]).all()


def test_series_with_rain_filtered_together_forecast_as_one_by_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Serving's batch of series (one origin each) takes each series' own rain, observed up
    to the origin and forecast after it: the same forecasts as one series at a time."""
    n = 30 * 24
    rain = np.vstack([storms(n, seed=5), storms(n, seed=6), storms(n, seed=7)])
    origin = 25 * 24
    rain[:, origin - 1 : origin + 3] += np.array([[2.0], [6.0], [12.0]])  # a storm at it
    y = np.vstack([level_after_rain(rain[i], seed=10 + i) for i in range(3)])
    hist = history(y, rain)
    cut = START + 20 * 24 * HOUR
    fit_origins = [START + k * HOUR for k in range(24, 20 * 24 - 7, 3)]
    model = build(**LEVEL, rain="rain_gauge").fit(frame(hist, fit_origins, rain), hist.until(cut))
    f = frame(hist, [START + origin * HOUR], rain)
    monkeypatch.setattr(statistical, "TOGETHER_MAX_ORIGINS", 0)
    one_by_one = model.predict(f, hist)
    monkeypatch.setattr(statistical, "TOGETHER_MAX_ORIGINS", 4)
    assert_frame_equal(
        model.predict(f, hist), one_by_one, check_exact=False, rel_tol=1e-9, abs_tol=1e-9
    )


def test_history_span_holds_the_rain_windows() -> None:
    """Serving hands over ``history_span``: the filter window and the rain before it that the
    longest rain window sums; the forecast is the backtest's."""
    n = 30 * 24
    rain = storms(n, seed=5)
    y = level_after_rain(rain, seed=6)
    hist = history(y, rain)
    model = build(**LEVEL, rain="rain_gauge", filter_window="2d").fit(
        frame(hist, [START + k * HOUR for k in range(24, 20 * 24 - 7, 3)], rain),
        hist.until(START + 20 * 24 * HOUR),
    )
    assert model.history_span == timedelta(days=2, hours=5)
    assert model.history_covariates == ("rain_gauge",)
    origin = START + 26 * 24 * HOUR + 5 * HOUR
    first = int(hist.bins([origin - model.history_span])[0])
    short = TargetHistory(
        y[None, first:],
        hist.series_ids,
        origin - model.history_span,
        HOUR,
        hist.series,
        {"rain_gauge": rain[None, first:]},
    )
    f = frame(hist, [origin], rain)
    assert_frame_equal(model.predict(f, short), model.predict(f, hist))
    again = pickle.loads(pickle.dumps(model))
    assert_frame_equal(again.predict(f, short), model.predict(f, hist), check_exact=True)


def test_without_a_forecast_the_future_rain_is_none() -> None:
    n = 30 * 24
    rain = storms(n, seed=7)
    y = level_after_rain(rain, seed=8)
    hist = history(y, rain)
    model = build(**LEVEL, rain="rain_gauge", rain_forecast=None)
    assert model.config.rain_forecast is None
    model.fit(frame(hist, [START], rain).drop("fcst_rain"), hist.until(START + 20 * 24 * HOUR))
    origins = [START + (21 * 24 + k) * HOUR for k in range(0, 60, 6)]
    dry, wet = frame(hist, origins, rain), frame(hist, origins, rain + 5.0)
    assert_frame_equal(model.predict(dry.drop("fcst_rain"), hist), model.predict(wet, hist))


def test_rain_parameters_are_checked_against_the_task() -> None:
    assert build(rain="rain_gauge").config.rain_forecast == "fcst_rain"  # auto: the rain sum
    assert build(rain="rain_gauge").config.rain_windows == (1, 3, 6)
    assert build().history_covariates == ()
    with pytest.raises(ConfigError, match=r"observed covariate.*rain_gauge"):
        build(rain="rain_area")
    with pytest.raises(ConfigError, match="rain_forecast"):
        build(rain="rain_gauge", rain_forecast="fcst_temp")  # not a sum
    with pytest.raises(ConfigError, match="rain_windows"):
        build(rain="rain_gauge", rain_windows=[])
    with pytest.raises(ConfigError, match="rain_windows"):
        build(rain="rain_gauge", rain_windows=["90m"])  # not whole hours


def test_a_history_without_the_rain_says_how_to_get_it() -> None:
    rain = storms(20 * 24, seed=9)
    y = level_after_rain(rain, seed=10)
    model = build(**LEVEL, rain="rain_gauge")
    with pytest.raises(DataError, match=r"no covariate 'rain_gauge'.*covariates="):
        model.fit(frame(history(y, None), [START], rain), history(y, None))
    fitted = build(**LEVEL, rain="rain_gauge").fit(
        frame(history(y, rain), [START], rain), history(y, rain)
    )
    with pytest.raises(DataError, match="fcst_rain"):
        fitted.predict(
            frame(history(y, rain), [START + 10 * 24 * HOUR], rain).drop("fcst_rain"),
            history(y, rain),
        )


def test_the_ensemble_and_calibration_wrappers_ask_for_the_rain() -> None:
    """What serving and the backtest read off a shipped model: the union of its members'
    covariates and the longest history any member reads."""
    rain = build(**LEVEL, rain="rain_gauge", filter_window="2d")
    plain = build(**LEVEL, filter_window="3d")
    mixed = EnsembleForecaster([plain, rain], [0.5, 0.5])
    assert mixed.history_covariates == ("rain_gauge",)
    assert mixed.history_span == timedelta(days=3)
    scaled = CalibratedForecaster(rain, pl.DataFrame({"horizon": [], "column": [], "scale": []}))
    assert scaled.history_covariates == ("rain_gauge",)
    assert scaled.history_span == timedelta(days=2, hours=5)


def test_sarimax_reads_the_tasks_country_and_refuses_chinas_school_terms_elsewhere() -> None:
    raw = make_task().model_dump(mode="json")
    raw["features"] |= {"country": "US", "timezone": "America/New_York"}
    us = parse_task(raw)
    spec = FeatureSpec(task=us.name, columns=())
    model = build_forecaster(
        us.model, task=us, spec=spec, overrides={"calendar": ["holiday", "workday"]}
    )
    assert isinstance(model, SarimaxForecaster) and model.config.days.country == "US"
    noon = pl.Series("ts", [datetime(2024, 7, 4, 16, tzinfo=UTC)])  # Independence Day
    assert regressors(noon, model.config)[0, -2:].tolist() == [1.0, 0.0]
    with pytest.raises(ConfigError, match=r"\['school_term'\] are China's"):
        build_forecaster(us.model, task=us, spec=spec, overrides={"calendar": ["school_term"]})
