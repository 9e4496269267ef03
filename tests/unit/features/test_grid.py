"""The grid rules: punctual rows only, masked ranges, bins, and window sums that refuse gaps."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from features.errors import DataError
from features.grid import (
    Readings,
    dense_values,
    floor_to_grid,
    punctual,
    regular_grid,
    steps,
    window_max,
    window_sum,
)
from features.schemas import conform

T0 = datetime(2025, 6, 1, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
STEP = timedelta(minutes=10)
SERIES = conform(
    "series",
    pl.DataFrame(
        {
            "series_id": ["pond-1", "rain-1", "river-1"],
            "signal": ["ponding_cm", "rain_mm", "water_level_m"],
            "unit": ["cm", "mm", "m"],
        }
    ),
)


def obs(rows: list[tuple]) -> pl.DataFrame:
    """``(series_id, minutes after T0, value[, received minutes after T0])`` rows."""
    return conform(
        "observations",
        pl.DataFrame(
            {
                "series_id": [r[0] for r in rows],
                "ts": [T0 + timedelta(minutes=r[1]) for r in rows],
                "value": [float(r[2]) for r in rows],
                "received_at": [T0 + timedelta(minutes=r[3]) if len(r) > 3 else None for r in rows],
            },
            schema_overrides={"received_at": pl.Datetime("us", "UTC")},
        ),
    )


def test_punctual_keeps_rows_received_within_the_latency_and_drops_late_ones() -> None:
    rows = obs(
        [
            ("pond-1", 10, 1.0),  # no received_at: arrived on time
            ("pond-1", 20, 2.0, 20),  # received exactly at its time stamp
            ("pond-1", 30, 3.0, 31),  # one minute late (the latency is 0)
            ("rain-1", 10, 4.0, 600),  # ten hours late
        ]
    )
    kept = punctual(rows, SERIES).sort("series_id", "ts")
    assert kept["value"].to_list() == [1.0, 2.0]


@pytest.mark.parametrize(
    ("series_id", "value"),
    [
        ("pond-1", -0.5),
        ("pond-1", 300.5),
        ("rain-1", -1.0),
        ("rain-1", 250.0),
        ("river-1", -6.0),
        ("river-1", float("nan")),
        ("river-1", float("inf")),
    ],
)
def test_punctual_masks_values_outside_the_physical_range_rather_than_clipping(
    series_id: str, value: float
) -> None:
    kept = punctual(obs([(series_id, 10, value)]), SERIES)
    assert kept.height == 1
    assert kept["value"].to_list() == [None]


def test_punctual_keeps_values_on_the_range_bounds() -> None:
    kept = punctual(obs([("pond-1", 10, 0.0), ("pond-1", 20, 300.0)]), SERIES)
    assert kept["value"].to_list() == [0.0, 300.0]


def test_punctual_drops_rows_of_series_outside_the_catalog() -> None:
    assert punctual(obs([("ghost", 10, 1.0)]), SERIES).is_empty()


def test_regular_grid_bins_each_value_into_the_bin_ending_at_or_after_it() -> None:
    rows = obs([("rain-1", 1, 1.0), ("rain-1", 10, 2.0), ("rain-1", 11, 4.0), ("rain-1", 29, 8.0)])
    grid = regular_grid(
        punctual(rows, SERIES), aggregation="sum", step=STEP, start=T0, end=T0 + 3 * STEP
    )
    assert grid["ts"].to_list() == [T0 + k * STEP for k in range(4)]
    assert grid["value"].to_list() == [None, 3.0, 4.0, 8.0]


def test_regular_grid_takes_the_last_level_and_keeps_empty_or_masked_bins_null() -> None:
    rows = obs([("river-1", 3, 1.0), ("river-1", 7, 2.0), ("river-1", 25, 99.0)])
    grid = regular_grid(
        punctual(rows, SERIES), aggregation="last", step=STEP, start=T0, end=T0 + 3 * STEP
    )
    assert grid["value"].to_list() == [None, 2.0, None, None]
    rain = regular_grid(
        punctual(obs([("rain-1", 5, -3.0)]), SERIES),
        aggregation="sum",
        step=STEP,
        start=T0,
        end=T0 + STEP,
    )
    assert rain["value"].to_list() == [None, None]  # a masked rain value is missing, not 0


def test_floor_to_grid_and_steps() -> None:
    t = datetime(2025, 6, 1, 12, 7, 30, tzinfo=UTC)
    assert floor_to_grid(t, STEP) == datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    assert floor_to_grid(T0, STEP) == T0
    assert steps(timedelta(hours=1), STEP) == 6
    assert steps(timedelta(minutes=15), STEP) == 2
    assert steps(timedelta(minutes=1), STEP) == 1


def _oracle(values: list[float | None], n: int, how: str) -> list[float | None]:
    """The slow, obvious window rule: at least 80 % of the last n bins present."""
    out: list[float | None] = []
    for i in range(len(values)):
        window = values[max(0, i - n + 1) : i + 1]
        present = [v for v in window if v is not None]
        if len(present) < 0.8 * n:
            out.append(None)
        else:
            out.append(sum(present) if how == "sum" else max(present))
    return out


@pytest.mark.parametrize("n", [1, 3, 5, 6, 10, 18])
@pytest.mark.parametrize("how", ["sum", "max"])
def test_window_sums_and_maxes_match_a_slow_loop_oracle(n: int, how: str) -> None:
    rng = random.Random(n)
    frames = []
    expected: dict[str, list[float | None]] = {}
    for key in ("a", "b"):
        values: list[float | None] = [
            None if rng.random() < 0.15 else round(rng.uniform(0, 20), 3) for _ in range(80)
        ]
        frames.append(pl.DataFrame({"series_id": key, "value": values}))
        expected[key] = _oracle(values, n, how)
    frame = pl.concat(frames)
    expr = window_sum("value", n) if how == "sum" else window_max("value", n)
    got = frame.with_columns(expr.alias("w"))
    for key in ("a", "b"):
        actual = got.filter(pl.col("series_id") == key)["w"].to_list()
        for a, e in zip(actual, expected[key], strict=True):
            assert (a is None) == (e is None)
            if e is not None:
                assert math.isclose(a, e, rel_tol=1e-9, abs_tol=1e-9)


@pytest.mark.parametrize(
    ("n", "missing", "is_null"),
    [(5, 1, False), (5, 2, True), (6, 1, False), (6, 2, True), (10, 2, False), (10, 3, True)],
)
def test_window_sum_is_null_not_zero_when_more_than_a_fifth_is_missing(
    n: int, missing: int, is_null: bool
) -> None:
    values = [None] * missing + [1.0] * (n - missing)
    got = pl.DataFrame({"series_id": "a", "value": values}).select(window_sum("value", n))
    last = got.to_series()[-1]
    assert (last is None) == is_null
    if not is_null:
        assert last == n - missing


def test_a_dry_window_after_a_storm_sums_to_exactly_zero() -> None:
    burst = [7.316, 9.127, 1.806, 3.772, 12.05, 5.443]
    frame = pl.DataFrame({"series_id": "a", "value": [*burst, 0.0, 0.0, 0.0, 0.0]})
    sums = frame.select(window_sum("value", 3)).to_series().to_list()
    assert sums[-1] == 0.0


def test_a_depth_takes_its_bins_maximum_and_an_undeclared_signal_off_its_grid_is_refused() -> None:
    rows = punctual(obs([("pond-1", 3, 4.0), ("pond-1", 7, 9.0), ("pond-1", 9, 2.0)]), SERIES)
    deepest = regular_grid(rows, aggregation="max", step=STEP, start=T0, end=T0 + STEP)
    assert deepest["value"].to_list() == [None, 9.0]
    readings = Readings(
        ("calls-1",),
        np.zeros(3, dtype=np.int64),
        np.array([0, 3_600_000_000, 7_200_000_000], dtype=np.int64),  # hourly
        np.array([5.0, 7.0, 11.0]),
    )
    day = timedelta(days=1)
    # on its own grid an undeclared signal needs no aggregation ...
    hourly = dense_values(
        readings, ["calls-1"], aggregation=None, step=timedelta(hours=1), start=EPOCH,
        end=EPOCH + timedelta(hours=2), signal="call_count",
    )  # fmt: skip
    assert hourly.tolist() == [[5.0, 7.0, 11.0]]
    # ... nor on a grid its readings fall between, one to a bin (an hourly grid from 00:30)
    shifted = dense_values(
        readings, ["calls-1"], aggregation=None, step=timedelta(hours=1),
        start=EPOCH + timedelta(minutes=30), end=EPOCH + timedelta(hours=2, minutes=30),
        signal="call_count",
    )  # fmt: skip
    assert shifted.tolist() == [[5.0, 7.0, 11.0]]  # each in the bin ending after it
    # ... on a daily grid it would have to guess (the last hour's 11 calls, not the day's 23)
    with pytest.raises(DataError) as err:
        dense_values(
            readings, ["calls-1"], aggregation=None, step=day, start=EPOCH, end=EPOCH + day,
            signal="call_count",
        )  # fmt: skip
    said = str(err.value)
    assert "'call_count'" in said and "features.aggregation: {call_count: sum}" in said
    summed = dense_values(
        readings, ["calls-1"], aggregation="sum", step=day, start=EPOCH, end=EPOCH + day
    )
    assert summed.tolist() == [[5.0, 18.0]]  # 00:00 closes the day before; (00:00, 24:00] next
