"""The numpy grid kernels agree with the straightforward Polars expressions they replace.

``features.dense`` computes window features from ``series x time`` matrices in cache-sized
blocks (several rows per block, or one window per output when origins are sparse); these tests
compare it with ``features.grid``'s Polars window expressions on generated data with gaps, with
blocks made tiny so that every block boundary and layout is exercised.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features import grid, window_blocks
from features.dense import Window, features_at, forward_fill
from features.grid import (
    Readings,
    antecedent_index,
    dense_values,
    hours_since,
    window_max,
    window_stat,
    window_sum,
)

STEP = timedelta(minutes=10)
T0 = datetime(2025, 6, 1, tzinfo=UTC)


@pytest.fixture(params=[(1 << 15, 2), (48, 1), (48, 3)], ids=["default", "tiny", "tiny-threads"])
def blocks(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run each test with the default blocks, and with tiny blocks (one and several threads)."""
    size, threads = request.param
    monkeypatch.setattr(window_blocks, "BLOCK_CELLS", size)
    monkeypatch.setenv("CITYBRAIN_THREADS", str(threads))  # the pools read the budget


@st.composite
def matrices(draw: st.DrawFn) -> np.ndarray:
    """A few rows of sensor-like values (3 decimals) with random gaps and constant runs."""
    n_rows = draw(st.integers(1, 3))
    n_bins = draw(st.integers(1, 70))
    seed = draw(st.integers(0, 2**32 - 1))
    gaps = draw(st.sampled_from([0.0, 0.1, 0.3, 0.7]))
    rng = np.random.default_rng(seed)
    values = np.round(
        rng.normal(draw(st.sampled_from([0.0, 60.0, 1000.0])), 5, (n_rows, n_bins)), 3
    )
    if n_bins > 8 and draw(st.booleans()):
        values[:, 2:8] = values[:, 2:3]  # a flat stretch: its deviation is exactly 0
    values[rng.random(values.shape) < gaps] = np.nan
    return values


def _origins(draw: st.DrawFn, n_bins: int) -> np.ndarray:
    how = draw(st.sampled_from(["all", "tail", "sparse"]))
    if how == "all":
        return np.arange(n_bins)
    if how == "tail":
        return np.arange(draw(st.integers(0, n_bins - 1)), n_bins)
    picked = draw(st.sets(st.integers(0, n_bins - 1), min_size=1, max_size=8))
    return np.array(sorted(picked))


def _long(values: np.ndarray) -> pl.DataFrame:
    n_rows, n_bins = values.shape
    return pl.DataFrame(
        {
            "series_id": np.repeat([f"s{i}" for i in range(n_rows)], n_bins),
            "value": pl.Series(values.ravel(), nan_to_null=True),
        }
    )


def _reference(values: np.ndarray, bins: np.ndarray, expr: pl.Expr) -> np.ndarray:
    """The Polars expression over each row, read at ``bins`` (NaN for null)."""
    got = _long(values).select(expr.alias("x"))["x"].fill_null(np.nan).to_numpy()
    return got.reshape(values.shape)[:, bins]


def _assert_close(got: np.ndarray, expected: np.ndarray) -> None:
    assert np.array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9, equal_nan=True)


@pytest.mark.usefixtures("blocks")
@settings(max_examples=40, deadline=None)
@given(data=st.data(), values=matrices())
def test_window_statistics_match_the_polars_expressions(data: st.DataObject, values) -> None:
    bins = _origins(data.draw, values.shape[1])
    n = data.draw(st.integers(1, 33))
    # Polars refuses a deviation over one bin (it needs two present)
    stats = ["sum", "mean", "min", "max", "quantile"] + (["std"] if n > 1 else [])
    windows = [Window(s, s, n, rounded=True, q=0.3 if s == "quantile" else None) for s in stats]
    windows.append(Window("max_unrounded", "max", n))
    got = features_at(values, bins, windows)
    for s in stats:
        expected = _reference(values, bins, window_stat("value", s, n, q=0.3))
        _assert_close(got[s], expected)
    _assert_close(got["max_unrounded"], _reference(values, bins, window_max("value", n)))


@pytest.mark.usefixtures("blocks")
@settings(max_examples=40, deadline=None)
@given(data=st.data(), values=matrices())
def test_values_lags_and_changes_are_positional_reads(data: st.DataObject, values) -> None:
    bins = _origins(data.draw, values.shape[1])
    n = data.draw(st.integers(1, 12))
    got = features_at(
        values,
        bins,
        [Window("now", "value"), Window("lag", "lag", n), Window("change", "change", n)],
    )
    shifted = pl.col("value").shift(n).over("series_id")
    _assert_close(got["now"], values[:, bins])
    _assert_close(got["lag"], _reference(values, bins, shifted))
    _assert_close(got["change"], _reference(values, bins, pl.col("value") - shifted))


def test_a_constant_window_has_a_deviation_of_exactly_zero() -> None:
    values = np.array([[*np.linspace(3.0, 90.0, 30), *[60.1] * 12, np.nan, *[60.1] * 11]])
    bins = np.arange(values.shape[1])
    got = features_at(values, bins, [Window("std", "std", 12, rounded=True)])["std"]
    assert got[0, 41] == 0.0  # twelve 60.1 in a row
    assert got[0, -1] == 0.0  # eleven of them and a gap


def test_window_sums_after_a_storm_are_exactly_zero_wherever_the_batch_starts() -> None:
    burst = [7.316, 9.127, 1.806, 3.772, 12.05, 5.443]
    values = np.array([[*burst, *[0.0] * 20]])
    for start in range(len(burst)):
        row = values[:, start:]
        got = features_at(row, np.arange(row.shape[1]), [Window("s", "sum", 3, rounded=True)])
        assert got["s"][0, -1] == 0.0


def test_a_feature_does_not_depend_on_the_other_origins_or_where_the_grid_starts() -> None:
    rng = np.random.default_rng(3)
    values = np.round(rng.normal(60, 5, (2, 200)), 3)
    values[rng.random(values.shape) < 0.1] = np.nan
    windows = [Window(s, s, 12, rounded=True) for s in ("sum", "mean", "min")]
    every = features_at(values, np.arange(150, 200), windows)
    for start in (0, 37, 150):
        alone = features_at(values[:, start:], np.array([199 - start]), windows)
        for w in windows:
            assert np.array_equal(alone[w.name][:, 0], every[w.name][:, -1], equal_nan=True)


@pytest.mark.usefixtures("blocks")
@settings(max_examples=30, deadline=None)
@given(values=matrices(), limit=st.integers(0, 9))
def test_forward_fill_matches_polars(values, limit: int) -> None:
    expected = (
        _long(values)
        .select(pl.col("value").forward_fill(limit=limit).over("series_id"))["value"]
        .fill_null(np.nan)
        .to_numpy()
        .reshape(values.shape)
    )
    got = forward_fill(values, limit)
    assert np.array_equal(got, expected, equal_nan=True)


@pytest.mark.usefixtures("blocks")
@settings(max_examples=30, deadline=None)
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_rain_covariate_windows_match_polars(data: st.DataObject, seed: int) -> None:
    """Antecedent precipitation index and dry hours, on rain with gaps (per_day 6 bins)."""
    rng = np.random.default_rng(seed)
    n_bins = data.draw(st.integers(1, 60))
    values = np.where(
        rng.random((2, n_bins)) < 0.6, 0.0, np.round(rng.gamma(0.6, 3, (2, n_bins)), 1)
    )
    values[rng.random(values.shape) < data.draw(st.sampled_from([0.0, 0.1, 0.5]))] = np.nan
    bins = _origins(data.draw, n_bins)
    days, cap = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 20))
    hours = STEP / timedelta(hours=1)
    got = features_at(
        values,
        bins,
        [
            Window("api", "api", days, per_day=6, k=0.85),
            Window("dry", "dry", cap, hours=hours, cap_hours=cap * hours),
        ],
    )
    # a "day" of 6 bins: antecedent_index reads its window lengths from the step
    api = antecedent_index("value", timedelta(hours=4), days=days, k=0.85)
    dry = hours_since("value", STEP, cap=cap * STEP)
    _assert_close(got["api"], _reference(values, bins, api))
    _assert_close(got["dry"], _reference(values, bins, dry))


@st.composite
def readings(draw: st.DrawFn) -> tuple[Readings, list[str]]:
    """Readings of three series, some between grid times, some null, a few outside the grid."""
    names = ("a", "b", "c")
    n = draw(st.integers(0, 40))
    code = draw(st.lists(st.integers(0, 2), min_size=n, max_size=n))
    minutes = draw(st.lists(st.integers(-15, 75), min_size=n, max_size=n, unique=True))
    on_grid = draw(st.booleans())
    ts = [T0 + timedelta(minutes=(m // 10 * 10 if on_grid else m)) for m in minutes]
    value = draw(st.lists(st.one_of(st.none(), st.floats(0, 50)), min_size=n, max_size=n))
    us = [int((t - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1)) for t in ts]
    keep = {}
    for c, u, v in zip(code, us, value, strict=True):
        keep[(c, u)] = v  # one reading per (series, time), as the store guarantees
    r = Readings(
        names,
        np.array([c for c, _ in keep], dtype=np.int32),
        np.array([u for _, u in keep], dtype=np.int64),
        np.array([np.nan if v is None else v for v in keep.values()], dtype=float),
    )
    keys = draw(st.sampled_from([["a", "b", "c"], ["b", "c", "z"], ["c"]]))
    return r, keys


@pytest.mark.usefixtures("blocks")
@settings(max_examples=40, deadline=None)
@given(drawn=readings(), aggregation=st.sampled_from(["sum", "mean", "last"]))
def test_dense_values_bins_readings_like_a_slow_oracle(drawn, aggregation: str) -> None:
    r, keys = drawn
    end = T0 + 6 * STEP
    got = dense_values(r, keys, aggregation=aggregation, step=STEP, start=T0, end=end)
    step_us = STEP // timedelta(microseconds=1)
    t0_us = int((T0 - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1))
    expected = np.full((len(keys), 7), np.nan)
    for i, key in enumerate(keys):
        for b in range(7):
            label = t0_us + b * step_us
            inside = [
                (t, v)
                for c, t, v in zip(r.code, r.ts_us, r.value, strict=True)
                if r.names[c] == key and label - step_us < t <= label and not math.isnan(v)
            ]
            if not inside:
                continue
            vals = [v for _, v in sorted(inside)]
            expected[i, b] = {"sum": sum(vals), "mean": sum(vals) / len(vals), "last": vals[-1]}[
                aggregation
            ]
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12, equal_nan=True)


def test_regular_grid_keeps_window_sum_semantics_for_polars_callers() -> None:
    """The long frame still feeds the Polars window expressions unchanged."""
    frame = pl.DataFrame(
        {
            "series_id": ["r"] * 4,
            "ts": [T0 + k * STEP for k in range(4)],
            "value": [1.0, None, 2.0, 3.0],
        }
    ).with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC")))
    g = grid.regular_grid(frame, aggregation="sum", step=STEP, start=T0, end=T0 + 3 * STEP)
    sums = g.select(window_sum("value", 2)).to_series().to_list()
    assert sums == [None, None, None, 5.0]  # two of two bins needed
