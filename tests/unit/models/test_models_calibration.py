"""Quantile scaling about the median: recovers the nominal level, leaves point masses alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from features import parse_task
from models.calibration import apply_scales, fit_scales
from training import metrics

QUANTILES = (0.1, 0.5, 0.9)
TASK = parse_task(
    {
        "name": "calib",
        "domain": "waterlogging",
        "target": {"signal": "ponding_cm"},
        "frequency": "10m",
        "horizons": ["1h"],
        "quantiles": list(QUANTILES),
        "model": {"family": "lightgbm"},
    }
)


def forecasts(n: int, *, width: float, sigma: float, seed: int = 0) -> pl.DataFrame:
    """Median 10 cm, outcomes N(10, sigma), an interval of +-width around the median."""
    rng = np.random.default_rng(seed)
    t0 = datetime(2025, 6, 1, tzinfo=UTC)
    return pl.DataFrame(
        {
            "series_id": ["s"] * n,
            "origin": [t0 + timedelta(minutes=10 * i) for i in range(n)],
            "ts": [t0 + timedelta(minutes=10 * i + 60) for i in range(n)],
            "horizon": [timedelta(hours=1)] * n,
            "model": ["m"] * n,
            "yhat": [10.0] * n,
            "q10": [10.0 - width] * n,
            "q50": [10.0] * n,
            "q90": [10.0 + width] * n,
            "y": 10.0 + sigma * rng.standard_normal(n),
        }
    )


def coverage(fc: pl.DataFrame) -> float:
    return float(
        fc.select(((pl.col("y") >= pl.col("q10")) & (pl.col("y") <= pl.col("q90"))).mean()).item()
    )


def test_too_narrow_intervals_are_widened_to_the_nominal_level() -> None:
    # the true 80 % half-width of N(0, 2) is 1.2816 * 2 = 2.563; the model claims 1
    train = forecasts(4000, width=1.0, sigma=2.0, seed=1)
    scales = fit_scales(train, QUANTILES)
    assert {c: round(s, 1) for c, s in zip(scales["column"], scales["scale"], strict=True)} == {
        "q10": 2.6,
        "q90": 2.6,
    }
    test = forecasts(4000, width=1.0, sigma=2.0, seed=2)
    assert coverage(test) < 0.5
    assert 0.77 <= coverage(apply_scales(test, scales, TASK)) <= 0.83


def test_a_point_mass_stays_a_point_mass() -> None:
    dry = forecasts(200, width=0.0, sigma=0.0).with_columns(
        pl.lit(0.0).alias(c) for c in ("yhat", "q10", "q50", "q90", "y")
    )
    scales = fit_scales(dry, QUANTILES)
    assert scales["scale"].to_list() == [1.0, 1.0]  # nothing to learn from
    wet = forecasts(2000, width=1.0, sigma=2.0)
    out = apply_scales(dry, fit_scales(wet, QUANTILES), TASK)
    assert out.select("q10", "q50", "q90").to_numpy().max() == 0.0


def test_scaled_quantiles_respect_the_physical_floor_and_stay_ordered() -> None:
    fc = forecasts(500, width=1.0, sigma=2.0).with_columns(
        pl.lit(0.5).alias("q50"), pl.lit(0.0).alias("q10"), pl.lit(2.0).alias("q90")
    )
    scales = pl.DataFrame(
        {"horizon": [timedelta(hours=1)] * 2, "column": ["q10", "q90"], "scale": [3.0, 3.0]},
        schema={"horizon": pl.Duration("us"), "column": pl.String, "scale": pl.Float64},
    )
    out = apply_scales(fc, scales, TASK)
    assert out["q10"].min() == 0.0  # 0.5 - 3 * 0.5 = -1 floored at 0 cm
    assert out["q90"].max() == 5.0  # 0.5 + 3 * 1.5
    assert (out["q10"] <= out["q50"]).all() and (out["q50"] <= out["q90"]).all()


def counts(n: int, *, width: float, seed: int) -> pl.DataFrame:
    """Poisson(4) outcomes forecast with median 4 and an interval of +-width around it."""
    fc = forecasts(n, width=width, sigma=0.0, seed=seed).with_columns(
        pl.lit(4.0).alias("yhat"), pl.lit(4.0 - width).alias("q10"), pl.lit(4.0).alias("q50")
    )
    y = np.random.default_rng(seed).poisson(4.0, n).astype(np.float64)
    return fc.with_columns(pl.lit(4.0 + width).alias("q90"), pl.Series("y", y))


def test_counts_are_calibrated_to_the_count_pit_not_the_plain_share() -> None:
    count_task = TASK.model_copy(
        update={"target": TASK.target.model_copy(update={"signal": "hotline_count"})}
    )

    def pit(fc: pl.DataFrame) -> float:
        return metrics.pit_coverage(fc, QUANTILES, lower_bound=0.0, discrete=True, randomize=False)

    for width, before in ((1.0, (0.55, 0.49)), (3.0, (0.93, 0.91))):
        train, test = counts(4000, width=width, seed=3), counts(4000, width=width, seed=4)
        assert (round(coverage(test), 2), round(pit(test), 2)) == before
        scales = fit_scales(train, QUANTILES, discrete=True, lower_bound=0.0)
        assert 0.78 <= pit(apply_scales(test, scales, count_task)) <= 0.84
    # +-3 around Poisson(4)'s median is too wide, yet the plain share of the scaled interval
    # (a whole-number bound counts as covered) stays at its nominal level: the indicator's fit
    # leaves the interval holding 90 % of outcomes by the count PIT
    plain = apply_scales(test, fit_scales(train, QUANTILES), count_task)
    assert pit(plain) > 0.88
