"""Nash-Sutcliffe and Kling-Gupta efficiencies, per series at one horizon."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from training.metrics import efficiency_by_series, kge, nse

H1, H2 = timedelta(hours=1), timedelta(hours=2)


def frame(series: dict[str, tuple[list[float], list[float]]], horizon=H1) -> pl.DataFrame:
    rows = [
        (sid, horizon, y, f)
        for sid, (ys, fs) in series.items()
        for y, f in zip(ys, fs, strict=True)
    ]
    return pl.DataFrame(
        rows,
        schema={
            "series_id": pl.String,
            "horizon": pl.Duration("us"),
            "y": pl.Float64,
            "yhat": pl.Float64,
        },
        orient="row",
    )


def hand_frame() -> pl.DataFrame:
    return frame(
        {
            "a": ([1.0, 2.0, 3.0], [1.0, 2.0, 4.0]),
            "b": ([2.0, 2.0, 2.0], [1.0, 2.0, 3.0]),  # constant observations
            "c": ([0.0, 2.0, 4.0], [2.0, 2.0, 2.0]),  # the mean forecast
        }
    )


# series a: sse = 1, mean y = 2, sst = 1 + 0 + 1 = 2 -> NSE = 1 - 1/2
# mean yhat = 7/3; sd y = sqrt(2/3); sd yhat = sqrt(((4/3)^2 + (1/3)^2 + (5/3)^2) / 3)
#   = sqrt(14)/3; cov = ((-1)(-4/3) + 0 + (1)(5/3)) / 3 = 1
# r = 1 / (sqrt(2/3) sqrt(14)/3) = sqrt(27/28); alpha = (sqrt(14)/3) / sqrt(2/3) = sqrt(21)/3;
# beta = (7/3) / 2 = 7/6
R_A, ALPHA_A, BETA_A = math.sqrt(27 / 28), math.sqrt(21) / 3, 7 / 6
KGE_A = 1 - math.sqrt((R_A - 1) ** 2 + (ALPHA_A - 1) ** 2 + (BETA_A - 1) ** 2)


def test_efficiencies_per_series_hand_worked() -> None:
    got = efficiency_by_series(hand_frame())
    assert got.columns == ["series_id", "n", "nse", "kge", "r", "alpha", "beta"]
    a, b, c = got.iter_rows(named=True)
    assert (a["series_id"], a["n"]) == ("a", 3)
    assert a["nse"] == pytest.approx(0.5)
    assert (a["r"], a["alpha"], a["beta"]) == pytest.approx((R_A, ALPHA_A, BETA_A))
    assert a["kge"] == pytest.approx(KGE_A)
    # constant observations: no NSE, no r or alpha, hence no KGE; beta = 2 / 2 still defined
    assert math.isnan(b["nse"]) and math.isnan(b["kge"]) and math.isnan(b["r"])
    assert b["beta"] == pytest.approx(1.0)
    # the mean forecast: NSE = 1 - (4 + 0 + 4) / 8 = 0; r = 0 (constant), alpha = 0, beta = 1
    assert c["nse"] == pytest.approx(0.0)
    assert (c["r"], c["alpha"], c["beta"]) == pytest.approx((0.0, 0.0, 1.0))
    assert c["kge"] == pytest.approx(1 - math.sqrt(2))


def test_nse_and_kge_are_medians_over_the_series_that_have_one() -> None:
    assert nse(hand_frame()) == pytest.approx((0.5 + 0.0) / 2)
    assert kge(hand_frame()) == pytest.approx((KGE_A + 1 - math.sqrt(2)) / 2)
    only_b = hand_frame().filter(pl.col("series_id") == "b")
    assert math.isnan(nse(only_b)) and math.isnan(kge(only_b))


def test_kge_is_undefined_when_the_observed_mean_is_zero() -> None:
    got = efficiency_by_series(frame({"z": ([-1.0, 1.0], [-1.0, 1.0])}))
    assert got["nse"].to_list() == [1.0]
    assert math.isnan(got["beta"][0]) and math.isnan(got["kge"][0])


def test_efficiencies_judge_one_horizon_and_skip_unobserved_rows() -> None:
    two = pl.concat(
        [
            hand_frame(),
            frame({"a": ([1.0, 2.0, 3.0, None], [9.0, 9.0, 9.0, 0.0])}, horizon=H2),  # type: ignore[list-item]
        ]
    )
    with pytest.raises(ValueError, match="one horizon"):
        nse(two)
    assert nse(two, horizon=H1) == pytest.approx(0.25)
    # at 2 h series a: sse = 64 + 49 + 36, sst = 2; the null row is not scored
    at_h2 = efficiency_by_series(two, horizon=H2)
    assert at_h2["n"].to_list() == [3]
    assert at_h2["nse"].to_list() == pytest.approx([1 - (64 + 49 + 36) / 2])


values = st.lists(st.integers(-1000, 1000), min_size=2, max_size=40).map(
    lambda v: [x / 10 for x in v]
)


@settings(max_examples=80, deadline=None)
@given(values)
def test_a_perfect_forecast_has_nse_and_kge_one(ys: list[float]) -> None:
    assume(len(set(ys)) > 1 and abs(np.mean(ys)) > 1e-3)
    f = frame({"s": (ys, ys)})
    assert nse(f) == pytest.approx(1.0)
    assert kge(f) == pytest.approx(1.0, abs=1e-9)


@settings(max_examples=80, deadline=None)
@given(values)
def test_the_mean_forecast_has_nse_zero_and_kge_one_minus_root_two(ys: list[float]) -> None:
    assume(len(set(ys)) > 1 and abs(np.mean(ys)) > 1e-3)
    mean = float(np.mean(ys))
    f = frame({"s": (ys, [mean] * len(ys))})
    assert nse(f) == pytest.approx(0.0, abs=1e-9)
    assert kge(f) == pytest.approx(1 - math.sqrt(2), abs=1e-9)


@settings(max_examples=80, deadline=None)
@given(values, values)
def test_efficiencies_never_exceed_one(ys: list[float], fs: list[float]) -> None:
    n = min(len(ys), len(fs))
    table = efficiency_by_series(frame({"s": (ys[:n], fs[:n])}))
    for col in ("nse", "kge"):
        v = table[col][0]
        assert math.isnan(v) or v <= 1.0 + 1e-12
    r = table["r"][0]
    assert math.isnan(r) or -1.0 <= r <= 1.0
