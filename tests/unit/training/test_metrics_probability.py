"""Event probabilities (Brier score and skill, reliability table) and the contingency table."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from training.metrics import (
    Contingency,
    brier_score,
    brier_skill,
    contingency,
    reliability_table,
)


def test_brier_score_hand_worked() -> None:
    # (0.9-1)^2 + (0.2-0)^2 + (0.6-0)^2 = 0.01 + 0.04 + 0.36; the unknown outcome is dropped
    p, o = [0.9, 0.2, 0.6, 0.0], [1, 0, 0, None]
    assert brier_score(p, o) == pytest.approx(0.41 / 3)
    assert brier_score(pl.Series(p), pl.Series(o)) == pytest.approx(0.41 / 3)
    assert brier_score(np.array(p), np.array([1.0, 0.0, 0.0, np.nan])) == pytest.approx(0.41 / 3)
    assert brier_score([0.5, 1.0], [True, True]) == pytest.approx(0.25 / 2)
    assert math.isnan(brier_score([0.3], [None]))


def test_brier_score_rejects_bad_inputs() -> None:
    with pytest.raises(ValueError, match="missing"):
        brier_score([np.nan, 0.2], [1, 0])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        brier_score([1.2], [1])
    with pytest.raises(ValueError, match="0/1"):
        brier_score([0.2], [2])
    with pytest.raises(ValueError, match="same length"):
        brier_score([0.2, 0.3], [1])


def test_brier_skill_against_a_climatological_reference() -> None:
    p, o = [0.9, 0.2, 0.6, 0.0], [1, 0, 0, None]
    # reference 0.5 everywhere: score 0.25; skill 1 - (0.41/3) / 0.25
    assert brier_skill(p, o, 0.5) == pytest.approx(1 - (0.41 / 3) / 0.25)
    assert brier_skill(p, o, [0.5, 0.5, 0.5, 0.5]) == pytest.approx(1 - (0.41 / 3) / 0.25)
    assert brier_skill(p, o, p) == pytest.approx(0.0)
    assert math.isnan(brier_skill(p, o, [1.0, 0.0, 0.0, 0.3]))  # a perfect reference


def test_reliability_table_hand_worked() -> None:
    p = [0.9, 0.2, 0.6, 0.0, 0.5, 1.0]
    o = [1, 0, 0, None, 1, 1]
    two = reliability_table(p, o, bins=2)
    assert two.columns == ["bin", "p_mean", "observed_freq", "n"]
    # [0, 0.5): 0.2 (no event); [0.5, 1]: 0.9, 0.6, 0.5, 1.0 with 3 events
    assert two["n"].to_list() == [1, 4]
    assert two["p_mean"].to_list() == pytest.approx([0.2, 3.0 / 4])
    assert two["observed_freq"].to_list() == pytest.approx([0.0, 3 / 4])
    four = reliability_table(p, o, bins=4)
    # [0, .25): 0.2; [.25, .5): empty; [.5, .75): 0.6, 0.5 (1 event); [.75, 1]: 0.9, 1.0
    assert four["bin"].to_list() == [0, 1, 2, 3]
    assert four["n"].to_list() == [1, 0, 2, 2]
    assert four["p_mean"].to_list()[1] is None and four["observed_freq"].to_list()[1] is None
    assert four["p_mean"].to_list()[2:] == pytest.approx([0.55, 0.95])
    assert four["observed_freq"].to_list()[2:] == pytest.approx([0.5, 1.0])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 100), st.booleans()), min_size=1, max_size=50),
    st.integers(1, 12),
)
def test_probability_scores_stay_in_range(pairs: list[tuple[int, bool]], bins: int) -> None:
    p = [a / 100 for a, _ in pairs]
    o = [b for _, b in pairs]
    assert 0.0 <= brier_score(p, o) <= 1.0
    table = reliability_table(p, o, bins=bins)
    assert table.height == bins and int(table["n"].sum()) == len(p)
    for row in table.filter(pl.col("n") > 0).iter_rows(named=True):
        k = row["bin"]
        assert k / bins - 1e-12 <= row["p_mean"] <= (k + 1) / bins + 1e-12
        assert 0.0 <= row["observed_freq"] <= 1.0


def test_contingency_hand_worked() -> None:
    warn = [True, True, False, False, None, True]
    obs = [True, False, True, False, True, None]
    table = contingency(warn, obs)
    # rows with a null on either side are counted nowhere
    assert table == Contingency(hits=1, misses=1, false_alarms=1, correct_negatives=1)
    assert (table.pod, table.far, table.csi) == pytest.approx((0.5, 0.5, 1 / 3))
    same = contingency(pl.Series(warn, dtype=pl.Boolean), pl.Series(obs, dtype=pl.Boolean))
    assert same == table
    none = contingency([False, False], [False, False])
    assert math.isnan(none.pod) and math.isnan(none.far) and math.isnan(none.csi)
    with pytest.raises(ValueError):
        contingency([True], [True, False])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans()), max_size=40))
def test_contingency_cells_partition_the_rows(pairs: list[tuple[bool, bool]]) -> None:
    t = contingency([w for w, _ in pairs], [o for _, o in pairs])
    assert t.hits + t.misses + t.false_alarms + t.correct_negatives == len(pairs)
    for v in (t.pod, t.far, t.csi):
        assert math.isnan(v) or 0.0 <= v <= 1.0
