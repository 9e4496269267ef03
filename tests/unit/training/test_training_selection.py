"""Selection by backtest and the out-of-sample ensemble weights."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from features import parse_task
from training.selection import ensemble_predictions, inverse_error_weights, select

T0 = datetime(2025, 6, 1, tzinfo=UTC)


def task(ensemble: bool):
    return parse_task(
        {
            "name": "sel",
            "domain": "waterlogging",
            "target": {"signal": "ponding_cm"},
            "frequency": "1h",
            "horizons": ["1h"],
            "model": {"family": "lightgbm"},
            "candidates": [{"family": "historical_average"}],
            "selection": {"ensemble": ensemble, "top": 2},
        }
    )


def predictions(errors: dict[str, list[float]]) -> pl.DataFrame:
    """Per model, one row per fold whose absolute error is the given value (y = 0)."""
    rows = []
    for model, per_fold in errors.items():
        for fold, e in enumerate(per_fold):
            rows.append(
                {
                    "series_id": "s",
                    "origin": T0 + timedelta(days=fold),
                    "ts": T0 + timedelta(days=fold, hours=1),
                    "horizon": timedelta(hours=1),
                    "model": model,
                    "yhat": e,
                    "q10": e - 1,
                    "q50": e,
                    "q90": e + 1,
                    "y": 0.0,
                    "fold": fold,
                }
            )
    return pl.DataFrame(rows)


def test_the_lowest_mean_error_wins_and_the_reason_says_by_how_much() -> None:
    preds = predictions({"lightgbm": [1.0, 1.0, 1.0], "historical_average": [2.0, 2.0, 2.0]})
    sel = select(preds, task(False), ["lightgbm", "historical_average"])
    assert sel.chosen == "lightgbm"
    assert "50.0 % better than historical_average" in sel.reason


def test_inverse_error_weights_sum_to_one_and_keep_the_top() -> None:
    w = inverse_error_weights({"a": 1.0, "b": 2.0, "c": 4.0}, top=2)
    assert w == pytest.approx({"a": 2 / 3, "b": 1 / 3})


def test_each_folds_ensemble_weights_come_only_from_earlier_folds() -> None:
    # b is perfect on the last fold only: the last fold's weights must not know that
    preds = predictions({"lightgbm": [1.0, 1.0, 1.0], "historical_average": [3.0, 3.0, 0.0]})
    mixed, overall = ensemble_predictions(preds, task(True), ["lightgbm", "historical_average"])
    yhat = dict(zip(mixed["fold"].to_list(), mixed["yhat"].to_list(), strict=True))
    assert yhat[0] == pytest.approx(2.0)  # equal weights on the first fold
    # folds 0-1: mean errors 1 and 3 -> weights 3/4 and 1/4
    assert yhat[2] == pytest.approx(0.75 * 1.0 + 0.25 * 0.0)
    assert overall["lightgbm"] == pytest.approx((1 / 1) / (1 / 1 + 1 / 2))
    assert np.isfinite(mixed["q10"].to_numpy()).all()


def test_repeated_names_are_a_config_error() -> None:
    with pytest.raises(Exception, match="distinct names"):
        parse_task(
            {
                "name": "dup",
                "domain": "waterlogging",
                "target": {"signal": "ponding_cm"},
                "frequency": "1h",
                "horizons": ["1h"],
                "model": {"family": "lightgbm"},
                "candidates": [{"family": "lightgbm"}],
            }
        )
