"""Point metrics (MAE, RMSE, bias, masked MAE, MASE, per-horizon tables) worked out by hand."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from training.metrics import (
    HORIZON_METRICS,
    by_horizon,
    mae,
    mae_by_horizon,
    mase,
    mase_scale,
    masked_mae,
    rmse,
)

H1, H2 = timedelta(hours=1), timedelta(hours=2)


def preds() -> pl.DataFrame:
    # errors y - yhat: -1, 2, (unobserved), -3, 6, 0
    return pl.DataFrame(
        {
            "series_id": ["a", "a", "a", "b", "b", "b"],
            "horizon": [H1, H1, H1, H2, H2, H2],
            "y": [1.0, 4.0, None, 0.0, 10.0, 2.0],
            "yhat": [2.0, 2.0, 50.0, 3.0, 4.0, 2.0],
        }
    )


def test_rmse_is_the_root_of_the_mean_squared_error_over_observed_rows() -> None:
    assert rmse(preds()) == pytest.approx(math.sqrt((1 + 4 + 9 + 36 + 0) / 5))
    assert math.isnan(rmse(preds().filter(pl.col("y").is_null())))


def test_nan_targets_are_unobserved_like_nulls() -> None:
    frame = preds().with_columns(pl.col("y").fill_null(float("nan")))
    assert mae(frame) == pytest.approx((1 + 2 + 3 + 6 + 0) / 5)
    assert rmse(frame) == pytest.approx(math.sqrt(10.0))


def test_a_missing_forecast_on_an_observed_row_is_an_error_not_a_skipped_row() -> None:
    for bad in (None, float("nan")):
        frame = preds().with_columns(
            pl.when(pl.int_range(pl.len()) == 0).then(bad).otherwise(pl.col("yhat")).alias("yhat")
        )
        with pytest.raises(ValueError, match="model failure"):
            mae(frame)
        with pytest.raises(ValueError, match="model failure"):
            by_horizon(frame)
    # ... but a missing forecast where nothing was observed is harmless
    unobserved = preds().with_columns(
        pl.when(pl.col("y").is_null()).then(None).otherwise(pl.col("yhat")).alias("yhat")
    )
    assert mae(unobserved) == pytest.approx(12 / 5)


def test_by_horizon_tabulates_each_metric_and_the_count() -> None:
    got = by_horizon(preds(), ("mae", "rmse", "bias"))
    assert got.columns == ["horizon", "mae", "rmse", "bias", "n"]
    assert got["horizon"].to_list() == [H1, H2]
    # H1: errors -1, 2 -> mae 3/2, rmse sqrt(5/2), bias (yhat - y) = (1 - 2)/2
    # H2: errors -3, 6, 0 -> mae 9/3, rmse sqrt(45/3), bias (3 - 6 + 0)/3
    assert got["mae"].to_list() == pytest.approx([1.5, 3.0])
    assert got["rmse"].to_list() == pytest.approx([math.sqrt(2.5), math.sqrt(15.0)])
    assert got["bias"].to_list() == pytest.approx([-0.5, -1.0])
    assert got["n"].to_list() == [2, 3]


def test_mae_by_horizon_is_by_horizon_restricted_to_mae() -> None:
    assert mae_by_horizon(preds()).equals(by_horizon(preds(), ("mae",)))


def test_by_horizon_rejects_unknown_metrics_and_mase_without_a_scale() -> None:
    with pytest.raises(ValueError, match="unknown metric"):
        by_horizon(preds(), ("mape",))
    with pytest.raises(ValueError, match="season_scale"):
        by_horizon(preds(), ("mase",))
    with pytest.raises(ValueError, match="quantile levels"):
        by_horizon(preds(), ("pinball",))
    assert set(HORIZON_METRICS) >= {"mae", "rmse", "mase", "pinball", "crps", "coverage_80"}


def test_masked_mae_drops_zero_and_missing_readings() -> None:
    # kept: errors 1, 2, 6, 0 (the y = 0 row and the null row are out) -> 9 / 4
    assert masked_mae(preds()) == pytest.approx(9 / 4)
    per_h = by_horizon(preds(), ("mae",), masked=True)
    assert per_h["mae"].to_list() == pytest.approx([1.5, (6 + 0) / 2])
    assert per_h["n"].to_list() == [2, 2]
    # another sentinel
    assert masked_mae(preds(), null_value=10.0) == pytest.approx((1 + 2 + 3 + 0) / 4)


def test_mase_scale_is_the_in_sample_seasonal_naive_mae() -> None:
    values = np.array([[1.0, 2.0, 4.0, 7.0], [0.0, 0.0, np.nan, 3.0]])
    # season 1: |diffs| row 0: 1, 2, 3; row 1: 0 (pairs with a NaN are skipped)
    assert mase_scale(values, 1) == pytest.approx((1 + 2 + 3 + 0) / 4)
    assert mase_scale(values, 1, per_series=True) == pytest.approx([2.0, 0.0])
    # season 2: row 0: |4-1|, |7-2|; row 1: |3-0|
    assert mase_scale(values, 2) == pytest.approx((3 + 5 + 3) / 3)
    assert mase_scale(values, 2, per_series=True) == pytest.approx([4.0, 3.0])
    # one series as a 1-D array; no valid pair gives NaN
    assert mase_scale(values[0], 3) == pytest.approx(6.0)
    assert math.isnan(mase_scale(values, 4))
    assert np.isnan(mase_scale(np.array([[np.nan, 1.0, np.nan]]), 1, per_series=True)).all()
    with pytest.raises(ValueError):
        mase_scale(values, 0)


def test_mase_divides_absolute_errors_by_the_scale() -> None:
    assert mase(preds(), 1.5) == pytest.approx((12 / 5) / 1.5)
    # per series: a: 1/2, 2/2; b: 3/4, 6/4, 0/4 -> mean over the five scored rows
    assert mase(preds(), {"a": 2.0, "b": 4.0}) == pytest.approx((0.5 + 1.0 + 0.75 + 1.5 + 0.0) / 5)
    got = by_horizon(preds(), ("mase",), season_scale={"a": 2.0, "b": 4.0})
    assert got["mase"].to_list() == pytest.approx([0.75, 0.75])


def test_mase_refuses_an_unusable_scale() -> None:
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="finite and positive"):
            mase(preds(), bad)
    with pytest.raises(ValueError, match="finite and positive"):
        mase(preds(), {"a": 1.0, "b": 0.0})
    with pytest.raises(ValueError, match="no MASE scale"):
        mase(preds(), {"a": 1.0})


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(-1000, 1000), min_size=1, max_size=30),
    st.lists(st.integers(-1000, 1000), min_size=1, max_size=30),
)
def test_rmse_is_never_below_mae(ys: list[int], fs: list[int]) -> None:
    n = min(len(ys), len(fs))
    frame = pl.DataFrame({"y": [v / 10 for v in ys[:n]], "yhat": [v / 10 for v in fs[:n]]})
    assert rmse(frame) >= mae(frame) - 1e-12
    assert mae(frame) >= 0


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 4),
    st.integers(1, 5),
    st.lists(st.one_of(st.none(), st.integers(0, 50)), min_size=30, max_size=30),
)
def test_the_in_sample_seasonal_naive_forecast_has_mase_one(
    n_series: int, season: int, cells: list[int | None]
) -> None:
    t = len(cells) // n_series
    values = np.array([np.nan if c is None else float(c) for c in cells[: n_series * t]]).reshape(
        n_series, t
    )
    rows = [
        (f"s{i}", float(values[i, k]), float(values[i, k - season]))
        for i in range(n_series)
        for k in range(season, t)
        if np.isfinite(values[i, k]) and np.isfinite(values[i, k - season])
    ]
    scale = mase_scale(values, season)
    if not rows or not scale > 0:
        return
    frame = pl.DataFrame(rows, schema=["series_id", "y", "yhat"], orient="row")
    assert mase(frame, scale) == pytest.approx(1.0)
