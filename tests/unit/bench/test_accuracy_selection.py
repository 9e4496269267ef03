"""The bench's honest selection among ours on small generated frames: the walk-forward pick uses
only the folds before each fold, the config's model on the first, and the ensemble's weights
come from earlier folds only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from features import parse_task


def scores(table: dict[str, list[float]]) -> pl.DataFrame:
    """``model, fold, score`` from one list of fold scores per model."""
    rows = [(m, k, v) for m, vals in table.items() for k, v in enumerate(vals)]
    return pl.DataFrame(rows, schema=["model", "fold", "score"], orient="row")


def test_first_fold_is_the_config_model_and_later_folds_follow_earlier_means(sel):
    table = {
        "ours: lightgbm": [5.0, 5.0, 5.0, 5.0],
        "ours: ets": [1.0, 9.0, 9.0, 1.0],  # best on fold 0 only
        "ours: ensemble": [4.0, 4.0, 4.0, 4.0],
    }
    chosen = sel.walk_forward(scores(table), "ours: lightgbm")
    # fold 0: the config's model although ets is best there; fold 1: ets (1.0 on fold 0);
    # fold 2: ensemble (mean 4.0 over folds 0-1 against ets 5.0); fold 3: ensemble (4.0 < 5.0)
    assert chosen == {
        0: "ours: lightgbm",
        1: "ours: ets",
        2: "ours: ensemble",
        3: "ours: ensemble",
    }


def test_a_later_fold_never_changes_an_earlier_choice(sel):
    table = {
        "ours: lightgbm": [3.0, 2.0, 4.0, 1.0],
        "ours: sarimax": [2.0, 3.0, 1.0, 5.0],
        "ours: ensemble": [2.5, 2.6, 2.4, 2.0],
    }
    base = sel.walk_forward(scores(table), "ours: lightgbm")
    rng = np.random.default_rng(0)
    for k in range(4):
        for _ in range(5):
            changed = {m: list(v) for m, v in table.items()}
            for m in changed:
                changed[m][k] = float(rng.uniform(0, 10))
            got = sel.walk_forward(scores(changed), "ours: lightgbm")
            assert {f: got[f] for f in range(k + 1)} == {f: base[f] for f in range(k + 1)}


def test_ties_go_to_the_config_model_and_missing_scores_disqualify(sel):
    table = {"ours: sequence": [1.0, 1.0, 1.0], "ours: lightgbm": [1.0, 1.0, 1.0]}
    assert set(sel.walk_forward(scores(table), "ours: lightgbm").values()) == {"ours: lightgbm"}
    frame = scores({"ours: lightgbm": [2.0, 2.0, 2.0], "ours: ets": [1.0, 1.0, 1.0]})
    frame = frame.filter(~((pl.col("model") == "ours: ets") & (pl.col("fold") == 0)))
    # ets has no score on fold 0, so it cannot be picked on fold 1; on fold 2 it still lacks one
    assert sel.walk_forward(frame, "ours: lightgbm") == {
        0: "ours: lightgbm",
        1: "ours: lightgbm",
        2: "ours: lightgbm",
    }


def tiny_task():
    return parse_task(
        {
            "name": "tiny",
            "domain": "waterlogging",
            "target": {"signal": "water_level_m"},
            "frequency": "1h",
            "horizons": ["1h"],
            "model": {"family": "lightgbm"},
            "candidates": [{"family": "ets"}],
            "selection": {"metric": "mae", "ensemble": True, "top": 2},
        }
    )


def predictions(errors: dict[str, list[float]], per_fold: int = 4) -> pl.DataFrame:
    """Rows of each model: ``y = 0`` and ``yhat`` off by the model's error on that fold."""
    t0, h = datetime(2024, 1, 1, tzinfo=UTC), timedelta(hours=1)
    rows = []
    for model, errs in errors.items():
        for fold, e in enumerate(errs):
            for i in range(per_fold):
                origin = t0 + (fold * per_fold + i) * h
                rows.append(("s", origin, origin + h, h, model, e, e - 1, e, e + 1, 0.0, fold))
    cols = ["series_id", "origin", "ts", "horizon", "model", "yhat", "q10", "q50", "q90", "y"]
    return pl.DataFrame(rows, schema=[*cols, "fold"], orient="row")


def test_ensemble_weights_come_from_earlier_folds_and_selected_rows_are_the_picks(sel):
    members = ["ours: lightgbm", "ours: ets"]
    preds = predictions({"ours: lightgbm": [1.0, 1.0, 1.0], "ours: ets": [3.0, 3.0, 3.0]})
    honest = sel.honest_ours(preds, tiny_task(), members, "ours: lightgbm")
    ens = honest.rows.filter(pl.col("model") == sel.ENSEMBLE).sort("origin")
    by_fold = dict(ens.group_by("fold").agg(pl.col("yhat").first()).iter_rows())
    assert by_fold[0] == pytest.approx(2.0)  # equal weights on the first fold
    # inverse error from fold 0: weights 3/4 and 1/4 -> 0.75 * 1 + 0.25 * 3
    assert by_fold[1] == pytest.approx(1.5)
    assert honest.chosen == {0: "ours: lightgbm", 1: "ours: lightgbm", 2: "ours: lightgbm"}
    picked = honest.rows.filter(pl.col("model") == sel.SELECTED)
    assert picked.height == preds.height // 2
    assert picked["yhat"].to_list() == [1.0] * picked.height
    # a row one member lacks is left out of both (aligned rows only)
    partial = preds.filter(~((pl.col("model") == "ours: ets") & (pl.col("fold") == 2)))
    honest = sel.honest_ours(partial, tiny_task(), members, "ours: lightgbm")
    assert set(honest.rows["fold"].unique().to_list()) == {0, 1}
