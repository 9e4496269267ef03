"""Quantile column names and exceedance probabilities read off the quantile columns."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from features import TaskConfig, parse_task
from models.quantiles import (
    event_probability,
    exceedance_probability,
    quantile_column,
    with_exceedance,
)

QS = (0.1, 0.5, 0.9)


def frame(*rows: tuple[float, ...], qs: tuple[float, ...] = QS) -> pl.DataFrame:
    return pl.DataFrame(
        [list(r) for r in rows], schema=[quantile_column(q) for q in qs], orient="row"
    )


@pytest.mark.parametrize(
    ("q", "name"),
    [
        (0.1, "q10"),
        (0.5, "q50"),
        (0.9, "q90"),
        (0.05, "q05"),
        (0.95, "q95"),
        (0.25, "q25"),
        (0.975, "q97_5"),
        (0.025, "q02_5"),
        (0.125, "q12_5"),
        (0.01, "q01"),
    ],
)
def test_quantile_column_names_the_percentile(q: float, name: str) -> None:
    assert quantile_column(q) == name


@pytest.mark.parametrize(
    ("x", "expected"),
    [
        (5.0, 0.7),  # halfway between q10=0 and q50=10: cdf 0.3
        (10.0, 0.5),
        (15.0, 0.3),
        (0.0, 0.9),
        (20.0, 0.1),
        (25.0, 0.1 * math.exp(-0.5)),  # upper tail, spacing 10
        (-5.0, 1.0 - 0.1 * math.exp(-0.5)),  # lower tail, spacing 10
    ],
)
def test_exceedance_probability_matches_hand_interpolation(x: float, expected: float) -> None:
    p = exceedance_probability(frame((0.0, 10.0, 20.0)), x, QS)
    assert p.shape == (1,)
    assert p[0] == pytest.approx(expected, abs=1e-12)


def test_exceedance_probability_interpolates_each_row_on_its_own_quantiles() -> None:
    qs = (0.05, 0.1, 0.5, 0.9, 0.95)
    f = frame((0.0, 2.0, 4.0, 8.0, 12.0), (10.0, 11.0, 12.0, 13.0, 14.0), qs=qs)
    p = exceedance_probability(f, 6.0, qs)
    assert p[0] == pytest.approx(1 - (0.5 + 0.5 * 0.4))
    assert p[1] == pytest.approx(1 - 0.05 * math.exp(-4.0 / 1.0))


def test_tied_quantiles_count_as_the_highest_quantile_at_that_value() -> None:
    qs = (0.05, 0.1, 0.5, 0.9, 0.95)
    f = frame((0.0, 0.0, 0.0, 3.0, 6.0), qs=qs)
    assert exceedance_probability(f, 0.0, qs)[0] == pytest.approx(0.5)


def test_exceedance_probability_falls_monotonically_and_stays_within_zero_and_one() -> None:
    qs = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)
    rng = np.random.default_rng(1)
    raw = np.sort(rng.gamma(1.0, 5.0, (40, len(qs))), axis=1)
    raw[:5, :3] = 0.0  # zero-inflated rows with ties
    raw[5:8] = 7.0  # all quantiles equal
    f = pl.DataFrame(raw, schema=[quantile_column(q) for q in qs])
    thresholds = np.linspace(-20.0, 80.0, 401)
    probs = np.stack([exceedance_probability(f, x, qs) for x in thresholds])
    assert np.all((probs >= 0.0) & (probs <= 1.0))
    assert np.all(np.diff(probs, axis=0) <= 1e-12)


def test_below_is_the_complement_of_above() -> None:
    f = frame((0.0, 10.0, 20.0), (3.0, 3.0, 9.0), (-1.0, 4.0, 4.0))
    for x in (-3.0, 0.0, 3.0, 4.0, 7.5, 20.0, 40.0):
        above = exceedance_probability(f, x, QS)
        below = exceedance_probability(f, x, QS, below=True)
        np.testing.assert_allclose(above + below, 1.0)


def test_crossed_quantiles_are_read_as_sorted_upward() -> None:
    crossed = frame((0.0, 12.0, 10.0))
    tidy = frame((0.0, 12.0, 12.0))
    for x in (5.0, 11.0, 13.0):
        assert exceedance_probability(crossed, x, QS) == pytest.approx(
            exceedance_probability(tidy, x, QS)
        )


def _warned_task(signal: str, direction: str, threshold: float) -> TaskConfig:
    return parse_task(
        {
            "name": "w",
            "domain": "hotline" if signal == "hotline_count" else "traffic",
            "target": {"signal": signal},
            "frequency": "1h",
            "horizons": ["1h"],
            "quantiles": list(QS),
            "model": {"family": "lightgbm"},
            "warning": {
                "direction": direction,
                "probability": 0.5,
                "levels": [{"level": "blue", "threshold": threshold}],
            },
        }
    )


def test_event_probability_of_counts_reads_the_whole_number_below_the_threshold() -> None:
    # quantiles (0, 1, 3): G through (0, .1), (1, .5), (3, .9); a count's F(k) = G(k + 1/2)
    counts = frame((0.0, 1.0, 3.0))
    # P(Y >= 1) = 1 - F(0) = 1 - G(0.5) = 0.7, the event the backtest counts (y >= 1)
    above = _warned_task("hotline_count", "above", 1.0)
    assert event_probability(counts, above, 1.0) == pytest.approx([0.7])
    keyed = counts.with_columns(series_id=pl.lit("s"), origin=pl.lit(0), ts=pl.lit(1))
    thresholds = keyed.select("series_id", "origin", "ts", t_blue=pl.lit(1.0))
    assert with_exceedance(keyed, above, thresholds)["p_blue"].to_list() == pytest.approx([0.7])
    # P(Y < 2) = F(1) = G(1.5) = 0.6
    below = _warned_task("hotline_count", "below", 2.0)
    assert event_probability(counts, below, 2.0) == pytest.approx([0.6])
    # a continuous target reads at the threshold itself
    speeds = _warned_task("speed_kmh", "below", 2.0)
    assert event_probability(counts, speeds, 2.0) == pytest.approx([0.7])


def test_each_row_reads_its_own_threshold_and_a_missing_one_gives_no_probability() -> None:
    rows = frame((0.0, 1.0, 3.0), (0.0, 1.0, 3.0), (0.0, 1.0, 3.0)).with_columns(
        series_id=pl.Series(["a", "b", "c"]), origin=pl.lit(0), ts=pl.lit(1)
    )
    thresholds = rows.select(
        "series_id", "origin", "ts", t_blue=pl.Series([1.0, 2.0, None], dtype=pl.Float64)
    )
    task = _warned_task("hotline_count", "above", 1.0)
    out = with_exceedance(rows, task, thresholds)
    assert out["t_blue"].to_list() == [1.0, 2.0, None]
    p = out["p_blue"].to_list()
    assert p[:2] == pytest.approx([0.7, 1 - 0.6]) and p[2] is None
