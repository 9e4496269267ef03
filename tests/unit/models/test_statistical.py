"""ETS and SARIMAX per series: small generated series, checked against statsmodels itself."""

from __future__ import annotations

import pickle
import warnings
from datetime import UTC, datetime, timedelta
from statistics import NormalDist

import cloudpickle
import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from features import ConfigError, DataError, FeatureSpec, TargetHistory, parse_task
from models import statistical
from models.ets import ets_forecast
from models.exogenous import absolute_bin, grid_times, regressors
from models.protocol import forecast_columns
from models.registry import build_forecaster
from models.sarimax import sarimax_forecast
from models.series_pool import POOL_MIN_SERIES
from models.series_state import _Fitted
from models.statistical import EtsForecaster, SarimaxForecaster

START = datetime(2025, 4, 7, tzinfo=UTC)  # a Monday; Labour Day (1-5 May) lies ahead
HOUR = timedelta(hours=1)


def make_task(family: str = "ets", signal: str = "water_level_m", **model: object):
    return parse_task(
        {
            "name": "statistical-unit",
            "domain": "test",
            "target": {"signal": signal},
            "frequency": "1h",
            "horizons": ["1h", "6h", "24h"],
            "model": {"family": family, "params": model},
        }
    )


def build(family: str, signal: str = "water_level_m", **params: object):
    task = make_task(family, signal)
    return build_forecaster(
        task.model, task=task, spec=FeatureSpec(task=task.name, columns=()), overrides=params
    )


def history(values: np.ndarray, start: datetime = START) -> TargetHistory:
    values = np.atleast_2d(np.asarray(values, dtype=float))
    ids = tuple(f"s{i}" for i in range(values.shape[0]))
    return TargetHistory(values, ids, start, HOUR, pl.DataFrame({"series_id": list(ids)}))


def frame(hist: TargetHistory, origins: list[datetime], horizons=(1, 6, 24)) -> pl.DataFrame:
    rows = [
        (sid, o, timedelta(hours=h), o + timedelta(hours=h))
        for sid in hist.series_ids
        for o in origins
        for h in horizons
    ]
    return pl.DataFrame(
        rows,
        schema={
            "series_id": pl.String,
            "origin": pl.Datetime("us", "UTC"),
            "horizon": pl.Duration("us"),
            "ts": pl.Datetime("us", "UTC"),
        },
        orient="row",
    )


def daily(days: int, *, seed: int = 0, level: float = 5.0, noise: float = 0.1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(days * 24)
    return level + 1.0 * np.sin(2 * np.pi * t / 24) + rng.normal(0, noise, t.size)


@pytest.mark.parametrize("intervals", ["empirical", "gaussian"])
def test_ets_recovers_a_level_and_daily_pattern(intervals: str) -> None:
    y = daily(24, seed=1)
    hist = history(y)
    cut = START + timedelta(days=21)
    model = build("ets", intervals=intervals).fit(frame(hist, [cut]), history(y[: 21 * 24]))
    fitted = model.fitted_["s0"]
    assert fitted.kind == "ets" and fitted.season_steps == 24
    origins = [cut + k * HOUR for k in range(0, 48, 3)]
    out = model.predict(frame(hist, origins, horizons=range(1, 25)), hist)
    truth = 5.0 + np.sin(2 * np.pi * hist.bins(out["ts"]) / 24)
    assert np.abs(out["yhat"].to_numpy() - truth).mean() < 0.15
    inside = (out["q10"].to_numpy() <= truth) & (truth <= out["q90"].to_numpy())
    assert inside.mean() > 0.8


def test_ets_forecast_matches_statsmodels() -> None:
    """The vectorised recursion and the analytic variance are statsmodels' own (damped trend)."""
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    y = daily(14, seed=2) + 0.01 * np.arange(14 * 24)
    sm = ETSModel(
        y,
        error="add",
        trend="add",
        damped_trend=True,
        seasonal="add",
        seasonal_periods=24,
        initialization_method="heuristic",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = sm.fit(disp=False)
    import pandas as pd

    expected = (
        ETSModel(
            pd.Series(y),
            error="add",
            trend="add",
            damped_trend=True,
            seasonal="add",
            seasonal_periods=24,
            initialization_method="heuristic",
        )
        .smooth(res.params)
        .get_prediction(start=y.size, end=y.size + 23)
        .summary_frame(alpha=0.2)
    )
    names = dict(zip(res.param_names, res.params, strict=True))
    numbers = {
        "alpha": names["smoothing_level"],
        "beta": names["smoothing_trend"],
        "gamma": names["smoothing_seasonal"],
        "phi": names["damping_trend"],
    }
    first_abs = 1000 * 24  # any absolute bin: the season is stored by phase
    season = np.zeros(24)
    season[(first_abs + np.arange(24)) % 24] = sm.initial_seasonal
    fitted = _Fitted(
        kind="ets",
        season_steps=24,
        scale=float(res.mse),
        arrays={
            "level": np.array([sm.initial_level]),
            "trend": np.array([sm.initial_trend]),
            "season": season,
        },
        numbers=numbers,
    )
    mean, sd = ets_forecast(fitted, y[None, :], np.array([first_abs]), np.arange(1, 25))
    np.testing.assert_allclose(mean[0], expected["mean"].to_numpy(), rtol=1e-9)
    z = NormalDist().inv_cdf(0.9)
    np.testing.assert_allclose(
        mean[0] + z * sd[0], expected["pi_upper"].to_numpy(), rtol=1e-9, atol=1e-9
    )


def test_sarimax_filter_matches_statsmodels() -> None:
    """The batched Kalman filter over a window, and its forecast mean and variance, equal
    statsmodels' filter over the same window with the same parameters."""
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    n = 24 * 30
    y = daily(30, seed=3, noise=0.3)
    y[100:103] = np.nan
    model = build("sarimax", n_jobs=1).fit(frame(history(y), [START]), history(y))
    fitted = model.fitted_["s0"]
    assert fitted.kind == "sarimax"
    cfg = model.config
    hist = history(y)
    exog = regressors(grid_times(hist, 0, n - 1), cfg)
    base = absolute_bin(hist)
    length, h = 96, 24
    for end in (200, 101, 500):  # a window with a gap, one ending in it, a clean one
        window = y[end - length + 1 : end + 1]
        mean, sd = sarimax_forecast(
            fitted,
            window[None, :],
            np.array([base + end - length + 1]),
            np.arange(1, h + 1),
            exog,
            base,
        )
        keep = np.abs(fitted.arrays["beta"]) > 0
        x = exog[:, keep]
        sm = SARIMAX(window, exog=x[end - length + 1 : end + 1], order=cfg.order, trend="n")
        params = np.concatenate([fitted.arrays["beta"][keep], sm.start_params[x.shape[1] :]])
        params[x.shape[1] : x.shape[1] + 2] = _ar_params(fitted)
        params[-1] = fitted.scale
        fc = sm.filter(params).get_forecast(h, exog=x[end + 1 : end + h + 1])
        np.testing.assert_allclose(mean[0], fc.predicted_mean, rtol=1e-7, atol=1e-7)
        np.testing.assert_allclose(sd[0] ** 2, fc.var_pred_mean, rtol=1e-7)


def _ar_params(fitted: _Fitted) -> np.ndarray:
    return fitted.arrays["transition"][:2, 0]


def holiday_series(seed: int = 4) -> tuple[np.ndarray, list[int]]:
    """Hourly from 7 April to 9 June 2025: 20 with a daily wave, 12 on public holidays."""
    rng = np.random.default_rng(seed)
    n = 63 * 24
    ts = [START + k * HOUR for k in range(n)]
    local_days = pl.Series(ts).dt.convert_time_zone("Asia/Shanghai").dt.date()
    from features import holidays

    flag = holidays.lookup(local_days, "is_holiday").to_numpy().astype(float)
    t = np.arange(n)
    y = 20 - 8 * flag + 2 * np.sin(2 * np.pi * (t + 8) / 24) + rng.normal(0, 0.5, n)
    return y, np.flatnonzero(flag).tolist()


def test_sarimax_forecasts_a_holiday_lower() -> None:
    """Fitted through Labour Day, the model forecasts the Dragon Boat Festival (31 May to 2
    June) lower than the ordinary days around it, a day ahead."""
    y, _ = holiday_series()
    hist = history(y)
    cut = datetime(2025, 5, 25, tzinfo=UTC)
    model = build("sarimax", n_jobs=1).fit(frame(hist, [START]), history(y[: hist.bins([cut])[0]]))
    holiday = datetime(2025, 5, 31, 4, tzinfo=UTC)  # noon local, a Saturday and a holiday
    saturday = datetime(2025, 5, 24, 4, tzinfo=UTC)  # noon local, an ordinary Saturday
    workday = datetime(2025, 5, 28, 4, tzinfo=UTC)  # noon local, a Wednesday
    origins = [t - timedelta(hours=24) for t in (holiday, saturday, workday)]
    out = model.predict(frame(hist, origins, horizons=(24,)), hist).sort("origin")
    on_saturday, on_workday, on_holiday = out["yhat"].to_list()
    assert on_holiday < on_workday - 5
    assert on_holiday < on_saturday - 5
    assert abs(on_holiday - 12) < 1.5  # the daily wave crosses its middle at noon


@pytest.mark.parametrize("family", ["ets", "sarimax"])
def test_a_forecast_reads_nothing_after_its_origin(family: str) -> None:
    y = np.vstack([daily(20, seed=5), daily(20, seed=6, level=3.0)])
    hist = history(y)
    model = build(family, n_jobs=1).fit(frame(hist, [START]), history(y[:, : 14 * 24]))
    cut = START + timedelta(days=17)
    origins = [cut - k * HOUR for k in range(0, 72, 5)]
    spoiled = y.copy()
    spoiled[:, hist.bins([cut])[0] + 1 :] = 1e3
    f = frame(hist, origins)
    assert_frame_equal(model.predict(f, history(spoiled)), model.predict(f, hist))


@pytest.mark.parametrize("family", ["ets", "sarimax"])
def test_history_span_is_all_a_forecast_needs(family: str) -> None:
    """Serving hands the model ``history_span`` before the origin: the same forecast."""
    y = np.vstack([daily(20, seed=7), daily(20, seed=8, level=2.0)])
    hist = history(y)
    model = build(family, n_jobs=1).fit(frame(hist, [START]), history(y[:, : 14 * 24]))
    assert model.history_span == timedelta(days=7)
    origin = START + timedelta(days=18, hours=5)
    first = hist.bins([origin - model.history_span])[0]
    short = history(y[:, first:], start=origin - model.history_span)
    f = frame(hist, [origin])
    assert_frame_equal(model.predict(f, short), model.predict(f, hist))


@pytest.mark.parametrize("family", ["ets", "sarimax"])
def test_a_pickled_model_predicts_identically(family: str) -> None:
    y = np.vstack([daily(16, seed=9), daily(16, seed=10)])
    hist = history(y)
    model = build(family, n_jobs=1).fit(frame(hist, [START]), history(y[:, : 14 * 24]))
    f = frame(hist, [START + timedelta(days=15) + k * HOUR for k in range(5)])
    for dumps in (pickle.dumps, cloudpickle.dumps):
        again = pickle.loads(dumps(model))
        assert_frame_equal(again.predict(f, hist), model.predict(f, hist), check_exact=True)


@pytest.mark.parametrize("family", ["ets", "sarimax"])
def test_parallel_and_serial_give_the_same_forecast(
    family: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(statistical, "PREDICT_POOL_MIN_STEPS", 0)  # predict in the pool too
    y = np.vstack([daily(16, seed=s, level=2.0 + s) for s in range(POOL_MIN_SERIES)])
    hist = history(y)
    train = history(y[:, : 14 * 24])
    f = frame(hist, [START + timedelta(days=14) + k * HOUR for k in range(0, 40, 3)])
    serial = build(family, n_jobs=1).fit(frame(hist, [START]), train)
    parallel = build(family, n_jobs=2).fit(frame(hist, [START]), train)
    assert_frame_equal(parallel.predict(f, hist), serial.predict(f, hist), check_exact=True)


@pytest.mark.parametrize(
    ("signal", "intervals"),
    [("water_level_m", "empirical"), ("water_level_m", "gaussian"), ("hotline_count", "negbin")],
)
def test_serving_filters_the_series_together_as_one_by_one(
    signal: str, intervals: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a few origins a series (serving) every SARIMAX series is filtered in one batch:
    the same forecasts and quantiles as one series at a time, with a gap up to an origin (the
    filter's variance grows over it), a constant series and one the fit never saw."""
    rng = np.random.default_rng(21)
    y = np.vstack([daily(16, seed=s, level=3.0 + s, noise=0.4) for s in range(4)])
    if signal == "hotline_count":
        y = rng.poisson(np.clip(y, 0.1, None)).astype(float)
    y[1, 15 * 24 : 15 * 24 + 4] = np.nan  # missing up to the first origin
    y[2] = 4.0  # constant: the persistence fallback
    train = history(y[:3, : 14 * 24])  # s3 is unseen by the fit
    model = build("sarimax", signal=signal, n_jobs=1, intervals=intervals)
    model.fit(frame(train, [START]), train)
    hist = history(y)
    f = frame(hist, [START + timedelta(days=15, hours=h) for h in (3, 4)])
    monkeypatch.setattr(statistical, "TOGETHER_MAX_ORIGINS", 0)
    one_by_one = model.predict(f, hist)
    monkeypatch.setattr(statistical, "TOGETHER_MAX_ORIGINS", 4)
    together = model.predict(f, hist)
    assert one_by_one.height == f.height and one_by_one["yhat"].null_count() == 0
    assert_frame_equal(together, one_by_one, check_exact=False, rel_tol=1e-9, abs_tol=1e-9)


@pytest.mark.parametrize("family", ["ets", "sarimax"])
def test_short_constant_and_unseen_series_fall_back_to_persistence(family: str) -> None:
    y = np.vstack([daily(16, seed=11), np.full(16 * 24, 4.0), np.full(16 * 24, np.nan)])
    y[2, -30:] = 7.0  # a sensor that came online a day ago
    hist = history(y)
    train = history(y[:, : 15 * 24 + 12])
    model = build(family, n_jobs=1).fit(frame(hist, [START]), train)
    summary = model.fit_summary().sort("series_id")
    assert summary["fallback"].to_list() == [False, True, True]
    assert "constant" in summary["reason"][1] and "points" in summary["reason"][2]
    origin = START + timedelta(days=15, hours=20)
    out = model.predict(frame(hist, [origin]), hist).sort("series_id", "horizon")
    assert out.filter(pl.col("series_id") == "s1")["yhat"].to_list() == [4.0] * 3
    assert out.filter(pl.col("series_id") == "s2")["yhat"].to_list() == [7.0] * 3
    # a series the model never saw is forecast the same way
    seen = history(y[:1])
    unseen = TargetHistory(y[:1], ("new",), START, HOUR, pl.DataFrame({"series_id": ["new"]}))
    a = model.predict(frame(seen, [origin]), seen)["yhat"].to_list()
    b = model.predict(frame(unseen, [origin]), unseen)
    assert b["yhat"].to_list() == [y[0, hist.bins([origin])[0]]] * 3
    assert a != b["yhat"].to_list()


def test_ets_keeps_a_season_only_where_it_pays() -> None:
    """A dry sensor with one glitch a day at a random time: no season (the heuristic would bake
    a spike into it); a daily wave: the season."""
    rng = np.random.default_rng(17)
    spiky = np.zeros(20 * 24)
    spiky[np.arange(20) * 24 + rng.integers(0, 24, 20)] = rng.uniform(50, 250, 20)
    y = np.vstack([spiky, daily(20, seed=18)])
    model = build("ets", n_jobs=1).fit(frame(history(y), [START]), history(y))
    assert [model.fitted_[s].season_steps for s in ("s0", "s1")] == [0, 24]
    forced = build("ets", n_jobs=1, select_season=False).fit(frame(history(y), [START]), history(y))
    assert forced.fitted_["s0"].season_steps == 24


def test_ets_bridges_short_gaps_and_fits_after_a_long_one() -> None:
    y = daily(20, seed=12)
    y[50:53] = np.nan  # 3 h: interpolated
    y[100:200] = np.nan  # 100 h: the fit uses what follows
    model = build("ets", n_jobs=1).fit(frame(history(y), [START]), history(y))
    fitted = model.fitted_["s0"]
    assert fitted.kind == "ets"
    assert fitted.points == y.size - 200


def test_empirical_intervals_use_the_fit_errors() -> None:
    y = daily(24, seed=13, noise=0.3)
    hist = history(y)
    cut = START + timedelta(days=21)
    model = build("sarimax", n_jobs=1, intervals="empirical").fit(
        frame(hist, [START]), history(y[: 21 * 24])
    )
    errors = model.fitted_["s0"].errors
    assert errors.shape == (24, 3) and np.isfinite(errors).all()
    out = model.predict(frame(hist, [cut + k * HOUR for k in range(0, 60)]), hist)
    width = (out["q90"] - out["q10"]).to_numpy()
    assert (width > 0.3).all() and (width < 2.0).all()


@pytest.mark.parametrize("family", ["ets", "sarimax"])
def test_counts_get_negative_binomial_quantiles(family: str) -> None:
    """Over-dispersed counts with a daily cycle: integer quantiles around the cycle that cover
    about 80% of what comes."""
    rng = np.random.default_rng(15)
    t = np.arange(24 * 24)
    mean = 3.0 + 2.5 * np.sin(2 * np.pi * t / 24)
    y = rng.negative_binomial(4, 4 / (4 + mean)).astype(float)  # variance mean + mean^2 / 4
    hist = history(y)
    model = build(family, signal="hotline_count", n_jobs=1)
    assert model.params()["intervals"] == "negbin"
    model.fit(frame(hist, [START]), history(y[: 20 * 24]))
    assert 0.1 < model.fitted_["s0"].dispersion[0] < 0.6
    origins = [START + timedelta(days=20) + k * HOUR for k in range(0, 72, 2)]
    out = model.predict(frame(hist, origins), hist)
    for c in ("yhat", "q10", "q50", "q90"):
        assert (out[c] == out[c].round()).all(), c
    truth = hist.values[0, hist.bins(out["ts"])]
    inside = (out["q10"].to_numpy() <= truth) & (truth <= out["q90"].to_numpy())
    assert 0.75 < inside.mean() < 0.98  # closed intervals on integers cover a little more


def test_unknown_and_bad_parameters_raise_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"allowed:.*fit_window"):
        build("ets", window="3d")
    with pytest.raises(ConfigError, match=r"allowed:.*order"):
        build("sarimax", p=2)
    with pytest.raises(ConfigError, match="intervals"):
        build("ets", intervals="bootstrap")
    with pytest.raises(ConfigError, match="order"):
        build("sarimax", order=[1, 0])
    with pytest.raises(ConfigError, match="calendar"):
        build("sarimax", calendar=["rain"])
    with pytest.raises(ConfigError, match="fit_window"):
        build("ets", fit_window="90m")  # not whole hours


def test_parameters_and_defaults_are_reported() -> None:
    ets = build("ets")
    assert isinstance(ets, EtsForecaster)
    assert ets.params()["season"] == "1d" and ets.params()["fit_window"] == "90d"
    assert ets.params()["intervals"] == "empirical" and ets.history_span == timedelta(days=7)
    sarimax = build("sarimax", order=[1, 1, 0])
    assert isinstance(sarimax, SarimaxForecaster)
    assert sarimax.params()["order"] == [1, 1, 0] and sarimax.params()["fourier"] == 3


def test_an_empty_frame_gives_an_empty_forecast() -> None:
    y = daily(16, seed=16)
    model = build("sarimax", n_jobs=1).fit(frame(history(y), [START]), history(y))
    out = model.predict(frame(history(y), []), history(y))
    assert out.is_empty() and out.columns == forecast_columns(model.task)


def test_predict_needs_history_up_to_each_origin() -> None:
    y = daily(16, seed=14)
    model = build("ets", n_jobs=1).fit(frame(history(y), [START]), history(y[: 14 * 24]))
    late = START + timedelta(days=20)
    with pytest.raises(DataError):
        model.predict(frame(history(y), [late]), history(y))
