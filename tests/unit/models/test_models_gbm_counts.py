"""LightGBM's Poisson objective: non-negative integer quantiles that cover over-dispersed counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from features import ConfigError, FeatureSpec, parse_task
from models.gbm import GradientBoostedForecaster

TASK = parse_task(
    {
        "name": "counts",
        "domain": "hotline",
        "target": {"signal": "hotline_count"},
        "frequency": "1h",
        "horizons": ["1h", "2h"],
        "model": {"family": "lightgbm", "params": {"objective": "poisson"}},
    }
)
SPEC = FeatureSpec(task="counts", columns=("x", "horizon_min"))


def frame(n: int, seed: int) -> pl.DataFrame:
    """Counts whose mean is exp(1 + x), negative binomial with dispersion 0.5."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, n)
    mu = np.exp(1.0 + x)
    lam = rng.gamma(shape=2.0, scale=mu / 2.0)  # gamma-Poisson: variance mu + 0.5 mu^2
    t0 = datetime(2025, 6, 1, tzinfo=UTC)
    origins = [t0 + timedelta(hours=i // 2) for i in range(n)]
    horizons = [timedelta(hours=1 + i % 2) for i in range(n)]
    return pl.DataFrame(
        {
            "series_id": ["s"] * n,
            "origin": origins,
            "horizon": horizons,
            "ts": [o + h for o, h in zip(origins, horizons, strict=True)],
            "x": x,
            "horizon_min": [int(h.total_seconds() // 60) for h in horizons],
            "target_now": [0.0] * n,
            "y": rng.poisson(lam).astype(float),
        }
    )


def test_poisson_quantiles_are_counts_that_cover_about_eighty_percent() -> None:
    model = GradientBoostedForecaster(
        task=TASK, spec=SPEC, objective="poisson", n_estimators=80, learning_rate=0.1
    )
    model.fit(frame(6000, 1))
    assert all(0.3 <= a <= 0.7 for a in model.dispersion_.values()), model.dispersion_
    test = frame(4000, 2)
    out = model.predict(test).with_columns(test["y"])
    q = out.select("q10", "q50", "q90").to_numpy()
    assert (q >= 0).all() and (q == np.round(q)).all()
    inside = out.select(((pl.col("y") >= pl.col("q10")) & (pl.col("y") <= pl.col("q90"))).mean())
    assert 0.78 <= inside.item() <= 0.92  # discrete: closed intervals cover a bit more
    # the point forecast is the median count
    assert (out["yhat"] == out["q50"]).all()


def test_thread_count_is_a_checked_parameter_that_does_not_change_the_forecast() -> None:
    with pytest.raises(ConfigError) as err:
        GradientBoostedForecaster(task=TASK, spec=SPEC, n_jobs=-2)
    assert "model.params.n_jobs" in str(err.value)
    train, test = frame(2000, seed=1), frame(200, seed=2)
    one = GradientBoostedForecaster(task=TASK, spec=SPEC, objective="poisson", n_jobs=1)
    every = GradientBoostedForecaster(task=TASK, spec=SPEC, objective="poisson")
    assert one.fit(train).predict(test).equals(every.fit(train).predict(test))
