"""Quantile-forecast metrics: pinball loss, CRPS from quantiles, interval and PIT coverage."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models import exceedance_probability, quantile_column
from training.metrics import (
    crps_from_quantiles,
    interval_coverage,
    mae,
    pinball_loss,
    pit_coverage,
    pit_values,
)
from training.metrics.quantile import _pit_bounds

Q3 = (0.1, 0.5, 0.9)


def qframe(y: list[float | None], rows: list[tuple[float, ...]], levels=Q3) -> pl.DataFrame:
    cols = {quantile_column(q): [r[i] for r in rows] for i, q in enumerate(levels)}
    return pl.DataFrame({"y": y, **cols}, schema_overrides={"y": pl.Float64})


def test_quantile_column_names_used_here() -> None:
    assert [quantile_column(q) for q in (0.05, 0.1, 0.5, 0.9)] == ["q05", "q10", "q50", "q90"]


def test_pinball_loss_hand_worked() -> None:
    frame = qframe([3.0, 0.0, None], [(1.0, 2.0, 4.0), (1.0, 2.0, 4.0), (9.0, 9.0, 9.0)])
    # row 1, y = 3: q10=1: 0.1*2 = 0.2; q50=2: 0.5*1 = 0.5; q90=4: (1-0.9)*1 = 0.1 -> 0.8
    # row 2, y = 0: q10=1: 0.9*1 = 0.9; q50=2: 0.5*2 = 1.0; q90=4: 0.1*4 = 0.4 -> 2.3
    # row 3 unobserved
    assert pinball_loss(frame, Q3) == pytest.approx((0.8 + 2.3) / 6)
    assert crps_from_quantiles(frame, Q3) == pytest.approx(2 * (0.8 + 2.3) / 6)
    # one level at a time
    assert pinball_loss(frame, [0.9]) == pytest.approx((0.1 + 0.4) / 2)
    assert math.isnan(pinball_loss(frame.filter(pl.col("y").is_null()), Q3))


def test_pinball_at_the_median_is_half_the_absolute_error_of_the_median() -> None:
    frame = qframe([3.0, 0.0, 7.5], [(1.0, 2.0, 4.0), (1.0, 2.0, 4.0), (0.0, 8.0, 9.0)])
    assert pinball_loss(frame, [0.5]) == pytest.approx(0.5 * mae(frame, column="q50"))


def test_pinball_loss_needs_every_quantile_column_and_a_forecast_on_observed_rows() -> None:
    frame = qframe([3.0], [(1.0, 2.0, 4.0)])
    with pytest.raises(ValueError, match="lacks"):
        pinball_loss(frame, (0.05, 0.5))
    with pytest.raises(ValueError, match="model failure"):
        pinball_loss(qframe([3.0], [(1.0, None, 4.0)]), Q3)
    with pytest.raises(ValueError):
        pinball_loss(frame, ())


def test_crps_from_a_dense_quantile_grid_matches_the_closed_form_for_a_normal() -> None:
    # CRPS(N(0,1), y) = y (2 Phi(y) - 1) + 2 phi(y) - 1/sqrt(pi); 100 mid-point levels
    levels = [(i - 0.5) / 100 for i in range(1, 101)]
    normal = NormalDist()
    for y in (-2.0, 0.0, 0.7, 3.0):
        frame = qframe([y], [tuple(normal.inv_cdf(q) for q in levels)], levels)
        exact = y * (2 * normal.cdf(y) - 1) + 2 * normal.pdf(y) - 1 / math.sqrt(math.pi)
        assert crps_from_quantiles(frame, levels) == pytest.approx(exact, rel=2e-3)


def test_crps_of_a_point_forecast_read_as_quantiles_is_its_absolute_error() -> None:
    frame = qframe([3.0, -1.0], [(5.0, 5.0, 5.0), (0.5, 0.5, 0.5)])
    # 2 * mean_q rho_q(e) = 2 * |e| * mean(q or 1-q) = |e| when the levels are symmetric
    assert crps_from_quantiles(frame, Q3) == pytest.approx((2.0 + 1.5) / 2)


# ---------------------------------------------------------------- PIT


def test_pit_of_a_continuous_forecast_is_its_cdf_at_the_observation() -> None:
    quant = (0.0, 10.0, 20.0)
    frame = qframe([5.0, 15.0, 25.0, -10.0, 20.0], [quant] * 5)
    expected = [
        0.1 + 0.5 * 0.4,  # halfway from q10 to q50
        0.5 + 0.5 * 0.4,  # halfway from q50 to q90
        1 - 0.1 * math.exp(-(25 - 20) / 10),  # upper tail, scale q90 - q50
        0.1 * math.exp(-(0 + 10) / 10),  # lower tail, scale q50 - q10
        0.9,  # on q90
    ]
    assert pit_values(frame, Q3) == pytest.approx(expected)
    assert pit_values(frame, Q3, seed=123) == pytest.approx(expected)  # nothing to randomize
    # covered: 0.3, 0.7 and 0.9 (closed interval)
    assert pit_coverage(frame, Q3) == pytest.approx(3 / 5)
    assert pit_coverage(frame, Q3, randomize=False) == pytest.approx(3 / 5)
    assert interval_coverage(frame) == pytest.approx(3 / 5)


def test_a_point_mass_at_zero_is_covered_with_probability_nominal_over_its_mass() -> None:
    # q10 = q50 = q90 = 0: the reading gives F(0) = 1 - 0.1 = 0.9; censored at 0, F(0-) = 0,
    # so the row's PIT is uniform on [0, 0.9] and lands in [0.1, 0.9] with probability 0.8/0.9
    dry = qframe([0.0], [(0.0, 0.0, 0.0)])
    lower, upper = _pit_bounds(dry, Q3, 0.0)
    assert (lower[0], upper[0]) == pytest.approx((0.0, 0.9))
    assert pit_coverage(dry, Q3, lower_bound=0.0, randomize=False) == pytest.approx(0.8 / 0.9)
    many = pl.concat([dry] * 20_000)
    assert pit_coverage(many, Q3, lower_bound=0.0) == pytest.approx(0.8 / 0.9, abs=0.01)
    # interval_coverage counts it covered every time
    assert interval_coverage(many) == 1.0
    # q10 = q50 = 0 < q90 = 5: F(0) = 0.5 (the highest tied level), so 0.4 / 0.5
    half = qframe([0.0], [(0.0, 0.0, 5.0)])
    assert pit_coverage(half, Q3, lower_bound=0.0, randomize=False) == pytest.approx(0.8)
    # without a lower bound the reading keeps the lowest 10 % in a vanishing tail just below
    # 0: F(0-) = 0.1, so the mass on 0 is exactly the central interval
    assert _pit_bounds(dry, Q3, None)[0] == pytest.approx([0.1])
    assert pit_coverage(dry, Q3, randomize=False) == pytest.approx(1.0)
    assert pit_coverage(half, Q3, randomize=False) == pytest.approx(1.0)  # [0.1, 0.5]


def test_the_count_pit_reads_whole_number_quantiles_with_the_continuity_correction() -> None:
    # q = (0, 1, 3): G through (0, .1), (1, .5), (3, .9); a count's CDF is F(k) = G(k + 1/2)
    counts = qframe([0.0, 1.0, 3.0], [(0.0, 1.0, 3.0)] * 3)
    lower, upper = _pit_bounds(counts, Q3, 0.0, discrete=True)
    g_35 = 1 - 0.1 * math.exp(-0.5 / 2)  # upper tail at 3.5, scale q90 - q50 = 2
    # y = 0: [0, G(.5)]; y = 1: [G(.5), G(1.5)]; y = 3: [G(2.5), G(3.5)]
    assert lower == pytest.approx([0.0, 0.3, 0.8])
    assert upper == pytest.approx([0.3, 0.6, g_35])
    share = [0.2 / 0.3, 1.0, 0.1 / (g_35 - 0.8)]
    assert pit_coverage(counts, Q3, lower_bound=0.0, discrete=True, randomize=False) == (
        pytest.approx(sum(share) / 3)
    )
    # Poisson(1.2) has q10 = 0, q50 = 1, q90 = 3 and P(Y = 0) = 0.301: the corrected reading
    # gives 0.3 where reading at the quantile itself gives 0.1
    assert upper[0] == pytest.approx(1 - exceedance_probability(counts, 0.5, Q3)[0])


def test_an_observation_below_the_lower_bound_is_ruled_out_by_the_forecast() -> None:
    frame = qframe([-0.5], [(0.0, 0.0, 2.0)])
    assert _pit_bounds(frame, Q3, 0.0)[1] == pytest.approx([0.0])
    assert pit_coverage(frame, Q3, lower_bound=0.0) == 0.0


def test_pit_coverage_is_reproducible_by_seed_and_checks_its_interval() -> None:
    frame = pl.concat([qframe([0.0], [(0.0, 0.0, 0.0)])] * 50)
    a = pit_coverage(frame, Q3, lower_bound=0.0, seed=7)
    assert a == pit_coverage(frame, Q3, lower_bound=0.0, seed=7)
    assert math.isnan(pit_coverage(frame.clear(), Q3))
    with pytest.raises(ValueError):
        pit_coverage(frame, Q3, 0.9, 0.1)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.integers(-5000, 5000), min_size=3, max_size=3),
    st.integers(-8000, 8000),
)
def test_pit_reads_the_cdf_exactly_as_exceedance_probability(vals: list[int], y: int) -> None:
    quant = tuple(sorted(v / 100 for v in vals))
    frame = qframe([y / 100], [quant])
    lower, upper = _pit_bounds(frame, Q3, None)
    direct = exceedance_probability(frame, y / 100, Q3, below=True)
    assert upper == pytest.approx(direct, abs=1e-9)
    assert 0.0 <= lower[0] <= upper[0] <= 1.0
    if len(set(quant)) == 3:  # no ties: no jump, the left limit is the value
        assert lower == pytest.approx(upper, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(-100, 100),
            st.integers(0, 50),
            st.integers(0, 50),
            st.one_of(st.none(), st.integers(-200, 200)),
        ),
        min_size=1,
        max_size=20,
    ),
    st.booleans(),
)
def test_coverage_and_pit_lie_in_the_unit_interval(
    rows: list[tuple[int, int, int, int | None]], bounded: bool
) -> None:
    frame = qframe(
        [None if r[3] is None else float(r[3]) for r in rows],
        [(float(r[0]), float(r[0] + r[1]), float(r[0] + r[1] + r[2])) for r in rows],
    )
    lb = -100.0 if bounded else None
    pits = pit_values(frame, Q3, lower_bound=lb)
    assert ((pits >= 0) & (pits <= 1)).all()
    for value in (
        interval_coverage(frame),
        pit_coverage(frame, Q3, lower_bound=lb),
        pit_coverage(frame, Q3, lower_bound=lb, randomize=False),
    ):
        assert math.isnan(value) or 0.0 <= value <= 1.0


# ------------------------------------------ calibrated forecasts: PIT coverage is nominal


def sample_from_reading(vals: np.ndarray, qs: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Invert the CDF that exceedance_probability reads from quantile values ``vals``
    (rows non-decreasing) at probabilities ``u``: linear between the quantiles, exponential
    tails with the scale of the neighbouring spacing; tied values are point masses."""
    eps = 1e-9
    out = np.empty(len(u))
    low, high = u < qs[0], u > qs[-1]
    mid = ~(low | high)
    s_lo = np.maximum(vals[:, 1] - vals[:, 0], eps)
    out[low] = vals[low, 0] + s_lo[low] * np.log(u[low] / qs[0])
    s_hi = np.maximum(vals[:, -1] - vals[:, -2], eps)
    out[high] = vals[high, -1] - s_hi[high] * np.log((1 - u[high]) / (1 - qs[-1]))
    j = np.clip(np.searchsorted(qs, u[mid], side="left"), 1, len(qs) - 1)
    rows = np.nonzero(mid)[0]
    frac = (u[mid] - qs[j - 1]) / (qs[j] - qs[j - 1])
    out[mid] = vals[rows, j - 1] + frac * (vals[rows, j] - vals[rows, j - 1])
    return out


def test_pit_of_a_calibrated_continuous_forecast_is_the_drawn_uniform() -> None:
    rng = np.random.default_rng(1)
    qs = np.array([0.05, 0.1, 0.5, 0.9, 0.95])
    n = 100_000
    centre = rng.normal(0, 10, n)
    steps = rng.gamma(2.0, 1.0, (n, 4))
    vals = np.column_stack([centre, centre[:, None] + np.cumsum(steps, axis=1)])
    u = rng.random(n)
    y = sample_from_reading(vals, qs, u)
    frame = pl.DataFrame({"y": y, **{quantile_column(q): vals[:, i] for i, q in enumerate(qs)}})
    assert pit_values(frame, qs) == pytest.approx(u, abs=1e-6)
    expected = np.mean((u >= 0.1) & (u <= 0.9))
    assert pit_coverage(frame, qs) == pytest.approx(expected, abs=1e-4)
    assert pit_coverage(frame, qs, randomize=False) == pytest.approx(expected, abs=1e-4)
    assert expected == pytest.approx(0.8, abs=4 * math.sqrt(0.16 / n))
    assert pit_coverage(frame, qs, 0.05, 0.95) == pytest.approx(0.9, abs=4 * math.sqrt(0.09 / n))


def test_pit_coverage_of_a_calibrated_zero_inflated_forecast_is_nominal() -> None:
    # ponding-like forecasts, censored at 0: dry (all levels 0), half dry (q10 = q50 = 0),
    # wet (all positive) and straddling (q10 < 0 < q50); the observations are drawn from the
    # very distribution each forecast states, so the forecast is calibrated by construction
    rng = np.random.default_rng(2)
    n = 200_000
    kind = rng.integers(0, 4, n)
    q90 = rng.gamma(2.0, 3.0, n)
    q50 = np.where(kind >= 2, q90 * rng.uniform(0.2, 0.9, n), 0.0)
    q10 = np.select([kind == 2, kind == 3], [q50 * rng.uniform(0, 0.9, n), -q50], 0.0)
    q90 = np.where(kind == 0, 0.0, q90)
    vals = np.column_stack([q10, q50, q90])
    qs = np.array(Q3)
    y = np.maximum(sample_from_reading(vals, qs, rng.random(n)), 0.0)
    frame = pl.DataFrame({"y": y, "q10": q10, "q50": q50, "q90": q90})
    assert (y == 0).mean() > 0.4  # strongly zero-inflated
    tol = 4 * math.sqrt(0.16 / n)
    assert pit_coverage(frame, Q3, lower_bound=0.0, seed=3) == pytest.approx(0.8, abs=tol)
    assert pit_coverage(frame, Q3, lower_bound=0.0, randomize=False) == pytest.approx(0.8, abs=tol)
    # the randomized PIT is uniform: every decile holds a tenth of the rows
    pits = pit_values(frame, Q3, lower_bound=0.0, seed=4)
    shares = np.histogram(pits, bins=10, range=(0, 1))[0] / n
    assert shares == pytest.approx(np.full(10, 0.1), abs=4 * math.sqrt(0.09 / n))
    # the plain interval count is fooled by the mass at 0 on the interval's edge, and so is
    # the PIT when it is not told that the target is censored at 0
    assert interval_coverage(frame) > 0.85
    assert pit_coverage(frame, Q3) > 0.85
