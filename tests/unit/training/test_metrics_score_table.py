"""score_table: the headline numbers of one model, worked out by hand."""

from __future__ import annotations

import math
from datetime import timedelta

import polars as pl
import pytest

from training.metrics import (
    by_horizon,
    crps_from_quantiles,
    interval_coverage,
    mae,
    pinball_loss,
    pit_coverage,
    rmse,
    score_table,
)

Q3 = (0.1, 0.5, 0.9)
H1 = timedelta(hours=1)


def preds(model: str = "m") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "series_id": ["a", "a", "a", "b"],
            "horizon": [H1] * 4,
            "model": [model] * 4,
            "y": [1.0, 4.0, None, 0.0],
            "yhat": [2.0, 2.0, 7.0, 0.0],
            "q10": [0.0, 1.0, 5.0, 0.0],
            "q50": [2.0, 2.0, 7.0, 0.0],
            "q90": [3.0, 3.0, 9.0, 0.0],
        }
    )


def test_score_table_hand_worked() -> None:
    got = score_table(preds(), Q3, lower_bound=0.0, season_scale=2.0)
    assert list(got) == [
        "n", "mae", "rmse", "mase", "pinball", "crps", "coverage_80", "pit_coverage_80"
    ]  # fmt: skip
    assert got["n"] == 3
    # errors 1, 2, 0
    assert got["mae"] == pytest.approx(3 / 3)
    assert got["rmse"] == pytest.approx(math.sqrt(5 / 3))
    assert got["mase"] == pytest.approx(1.0 / 2.0)
    # pinball, y = 1 vs (0, 2, 3): 0.1*1 + 0.5*1 + 0.1*2 = 0.8
    #          y = 4 vs (1, 2, 3): 0.1*3 + 0.5*2 + 0.9*1 = 2.2;  y = 0 vs (0, 0, 0): 0
    assert got["pinball"] == pytest.approx((0.8 + 2.2 + 0) / 9)
    assert got["crps"] == pytest.approx(2 * (0.8 + 2.2 + 0) / 9)
    # inside [q10, q90]: 1 yes, 4 no, 0 yes
    assert got["coverage_80"] == pytest.approx(2 / 3)
    # PIT: y = 1 -> 0.1 + 0.5*0.4 = 0.3 (in); y = 4 -> 1 - 0.1 e^-1 (out); y = 0 is a mass
    # F(0-) = 0, F(0) = 0.9: in with probability 0.8/0.9, so 1/3 or 2/3 by the draw
    assert got["pit_coverage_80"] in (pytest.approx(1 / 3), pytest.approx(2 / 3))
    assert got["pit_coverage_80"] == pit_coverage(preds(), Q3, lower_bound=0.0, seed=0)


def test_score_table_agrees_with_the_single_metrics() -> None:
    got = score_table(preds(), Q3)
    assert "mase" not in got
    assert got["mae"] == pytest.approx(mae(preds()))
    assert got["rmse"] == pytest.approx(rmse(preds()))
    assert got["pinball"] == pytest.approx(pinball_loss(preds(), Q3))
    assert got["crps"] == pytest.approx(crps_from_quantiles(preds(), Q3))
    assert got["coverage_80"] == pytest.approx(interval_coverage(preds()))


def test_masked_score_table_drops_zero_readings_everywhere() -> None:
    got = score_table(preds(), Q3, masked=True)
    assert got["n"] == 2
    assert got["mae"] == pytest.approx((1 + 2) / 2)
    assert got["pinball"] == pytest.approx((0.8 + 2.2) / 6)
    assert got["coverage_80"] == pytest.approx(1 / 2)
    assert got["pit_coverage_80"] == pytest.approx(1 / 2)  # 0.3 in, 0.963 out


def test_score_table_scores_one_model_and_survives_an_empty_fold() -> None:
    with pytest.raises(ValueError, match="one model"):
        score_table(pl.concat([preds("m"), preds("baseline")]), Q3)
    empty = score_table(preds().filter(pl.col("y").is_null()), Q3, season_scale=1.0)
    assert empty["n"] == 0
    assert all(math.isnan(v) for k, v in empty.items() if k != "n")
    with pytest.raises(ValueError, match="lacks"):
        score_table(preds().drop("q90"), (0.1, 0.5))


def test_by_horizon_quantile_metrics_agree_with_the_score_table() -> None:
    table = by_horizon(
        preds(), ("mae", "pinball", "crps", "coverage_80", "mase"), quantiles=Q3, season_scale=2.0
    )
    got = score_table(preds(), Q3, season_scale=2.0)
    assert table["n"].to_list() == [3]
    for name in ("mae", "pinball", "crps", "coverage_80", "mase"):
        assert table[name][0] == pytest.approx(got[name])
