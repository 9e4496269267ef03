"""Mostly empty feature columns are found and named, NaN counted as empty."""

from __future__ import annotations

import numpy as np
import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from features import describe_sparse, feature_null_shares, sparse_features


def test_columns_null_on_most_rows_are_named_the_emptiest_first() -> None:
    frame = pl.DataFrame(
        {
            "rain_sum_1h": [None, None, None, 1.0],
            "level": [1.0, float("nan"), float("nan"), float("nan")],
            "lag": [1.0, 2.0, None, 3.0],
            "code": [1, 2, 3, 4],
        }
    )
    found = sparse_features(frame, ["rain_sum_1h", "level", "lag", "code", "absent"])
    assert [(f.column, f.null_share) for f in found] == [("level", 0.75), ("rain_sum_1h", 0.75)]
    said = describe_sparse(found)
    assert said is not None and "level 75% null" in said and "cadence" in said
    assert describe_sparse([]) is None
    assert feature_null_shares(frame.clear(), ["lag"]) == {"lag": 0.0}


@given(st.lists(st.one_of(st.none(), st.floats(allow_nan=False)), min_size=1, max_size=50))
def test_the_null_share_is_the_share_of_missing_rows(values: list[float | None]) -> None:
    frame = pl.DataFrame({"x": values}, schema={"x": pl.Float64})
    share = feature_null_shares(frame, ["x"])["x"]
    assert share == sum(v is None for v in values) / len(values)
    assert bool(sparse_features(frame, ["x"])) == (share > 0.5)


def test_an_accumulation_read_every_other_bin_covers_the_bins_after_each_reading() -> None:
    from features.dense import fill_between_readings

    nan = float("nan")
    row = np.array([[nan, 2.0, nan, 0.0, nan, 4.0, nan, nan, nan, nan, nan, 1.0, nan]])
    out = fill_between_readings(row)
    # the bin after each reading adds nothing; before the first reading, and a gap longer than
    # the cadence, stay missing (nothing is filled before it was reported)
    expected = [nan, 2.0, 0.0, 0.0, 0.0, 4.0, 0.0, nan, nan, nan, nan, 1.0, 0.0]
    np.testing.assert_array_equal(out, np.array([expected]))
    np.testing.assert_array_equal(
        fill_between_readings(np.array([[1.0, 2.0, nan]])), [[1.0, 2.0, nan]]
    )


@given(st.lists(st.one_of(st.none(), st.floats(0, 10)), min_size=1, max_size=40))
def test_filling_never_changes_a_reading_nor_fills_before_the_first(
    values: list[float | None],
) -> None:
    from features.dense import fill_between_readings

    row = np.array([[np.nan if v is None else v for v in values]])
    out = fill_between_readings(row)
    present = ~np.isnan(row)
    np.testing.assert_array_equal(out[present], row[present])
    first = int(np.argmax(present)) if present.any() else row.size
    assert np.isnan(out[0, :first]).all()
    assert (out[~present & ~np.isnan(out)] == 0.0).all()
