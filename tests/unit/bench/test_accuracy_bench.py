"""The accuracy benchmark's plumbing on tiny generated data (no real data, no spawned processes):
peer cross-validation windows land on our backtest's origins, and the metrics are right."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from features import CityTables, ModelSpec, conform, parse_task
from training import run_backtest


def tiny_tables(days: int = 150) -> CityTables:
    """Two daily river levels with a weekly wiggle and a few missing days."""
    rng = np.random.default_rng(3)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    ts = [start + timedelta(days=i) for i in range(days)]
    frames = []
    for k, sid in enumerate(("gauge-a", "gauge-b")):
        level = 2 + k + np.cumsum(rng.normal(0, 0.05, days)) + 0.2 * np.sin(np.arange(days))
        keep = rng.random(days) > 0.03
        frames.append(
            pl.DataFrame({"series_id": sid, "ts": ts, "value": level}).filter(pl.Series(keep))
        )
    series = pl.DataFrame(
        {
            "series_id": ["gauge-a", "gauge-b"],
            "signal": "water_level_m",
            "unit": "m",
            "area_id": "river",
            "attrs": json.dumps({}),
        }
    )
    empty = CityTables.empty()
    return CityTables(
        series=conform("series", series),
        observations=conform("observations", pl.concat(frames)),
        events=empty.events,
        weather_forecasts=empty.weather_forecasts,
        areas=empty.areas,
    )


def tiny_task():
    return parse_task(
        {
            "name": "tiny-river",
            "domain": "waterlogging",
            "target": {"signal": "water_level_m"},
            "frequency": "1d",
            "horizons": ["1d", "3d"],
            "features": {
                "target_lags": ["1d", "2d"],
                "target_maxes": [],
                "target_changes": [],
                "fill_limit": "1d",
                "season_ref": "1d",
                "calendar": [],
            },
            "model": {"family": "lightgbm", "params": {"n_estimators": 10, "num_leaves": 4}},
            "train": {"origin_stride": "1d", "history": "365d"},
            "backtest": {
                "folds": 2,
                "fold_length": "14d",
                "origin_stride": "2d",
                "min_train": "60d",
            },
        }
    )


@pytest.mark.slow  # a backtest plus statsforecast's import and first compile: tens of seconds
def test_peer_cutoffs_are_our_origins_and_naive_equals_our_persistence(peers, metrics):
    statsforecast = pytest.importorskip("statsforecast")
    from statsforecast.models import Naive

    tables, task = tiny_tables(), tiny_task()
    ours = run_backtest(tables, task, progress=False).predictions
    plan = peers.backtest_plan(tables, task)
    folds = peers.peer_folds(plan, peers.peer_series(plan.history))
    assert [pf.origins[0] for pf in folds] == [f.start for f in plan.folds]
    rows = []
    for pf in folds:
        cv = statsforecast.StatsForecast(models=[Naive(alias="Naive")], freq="1d").cross_validation(
            df=pf.frame,
            h=pf.h,
            n_windows=len(pf.origins),
            step_size=pf.step_size,
            refit=False,
            level=[80],
        )
        rows.append(peers.peer_rows(cv, "Naive", "statsforecast: Naive", pf, task))
    peer_preds = pl.concat(rows)
    baseline = ours.filter(pl.col("model") == "seasonal_naive")
    assert set(peer_preds["origin"].unique()) == set(baseline["origin"].unique())
    assert set(peer_preds["horizon"].unique()) == set(baseline["horizon"].unique())
    both = baseline.join(peer_preds, on=metrics.KEYS, suffix="_peer")
    assert both.height == baseline.height
    # persistence is persistence: equal wherever our grid had the origin's value
    known = both.filter(pl.col("yhat").is_not_null() & pl.col("y").is_not_null())
    assert known.height > 0.8 * both.height
    assert np.allclose(known["yhat"].to_numpy(), known["yhat_peer"].to_numpy())


def test_common_rows_keep_what_every_model_forecast_and_mask_zeros(metrics):
    h = timedelta(hours=1)
    t = datetime(2024, 1, 1, tzinfo=UTC)
    preds = pl.DataFrame(
        {
            "series_id": ["a", "a", "b", "a", "a", "b"],
            "origin": [t, t + h, t, t, t + h, t],
            "horizon": [h] * 6,
            "model": ["ours"] * 3 + ["peer"] * 3,
            "yhat": [1.0, 2.0, 3.0, 1.5, None, 2.5],
            "y": [1.0, 0.0, 2.0, None, None, None],
        }
    )
    rows = metrics.common_rows(preds, ["ours", "peer"], mask_zeros=True)
    assert rows.height == 4  # (a, t) and (b, t) for both models
    assert set(rows["y"].to_list()) == {1.0, 2.0}
    unmasked = metrics.common_rows(preds, ["ours", "peer"], mask_zeros=False)
    assert unmasked.height == 4  # (a, t+h) has no peer forecast


def test_scores_match_hand_computed_values(metrics):
    y = np.array([1.0, 2.0, 3.0, 4.0])
    assert metrics.nse(y, y) == pytest.approx(1.0)
    assert metrics.nse(y, np.full(4, y.mean())) == pytest.approx(0.0)
    assert metrics.kge(y, y) == pytest.approx(1.0)
    assert metrics.kge(y, 2 * y) == pytest.approx(1 - math.sqrt(2.0))  # alpha = beta = 2
    h = timedelta(days=1)
    rows = pl.DataFrame(
        {
            "series_id": ["a"] * 4,
            "origin": [datetime(2024, 1, d, tzinfo=UTC) for d in range(1, 5)],
            "horizon": [h] * 4,
            "model": ["m"] * 4,
            "yhat": [1.0, 2.0, 4.0, 4.0],
            "q10": [0.5, 1.5, 3.5, 4.5],
            "q90": [1.5, 2.5, 4.5, 5.0],
            "y": y,
        }
    )
    got = {m: v for _, _, m, v in metrics.score(rows, streamflow=True).iter_rows()}
    assert got["MAE"] == pytest.approx(0.25)
    assert got["RMSE"] == pytest.approx(0.5)
    assert got["80% coverage"] == pytest.approx(0.5)
    assert got["NSE (median)"] == pytest.approx(1 - 1 / 5)


def test_ours_are_the_config_model_and_candidates_or_the_families_asked_for(bench):
    task = tiny_task().model_copy(
        update={
            "candidates": (
                ModelSpec(family="ets", params={"season": None}),
                ModelSpec(family="lightgbm", name="gbm-small", params={"num_leaves": 4}),
            )
        }
    )
    labels = [s.label for s in bench.our_specs(task, "config")]
    assert labels == ["lightgbm", "ets", "gbm-small"]
    every = [s.label for s in bench.our_specs(task, "all")]
    assert every[:3] == labels and "sarimax" in every and "seasonal_naive" not in every
    # a list picks, the config's parameters where it names a candidate; the model always runs
    picked = bench.our_specs(task, "ets,sequence")
    assert [s.label for s in picked] == ["lightgbm", "ets", "sequence"]
    assert picked[1].params == {"season": None}
    # the thread budget goes to families that take workers, unless the config sets it
    assert bench.bench_spec(ModelSpec(family="sarimax")).params == {"n_jobs": 1}
    assert bench.bench_spec(ModelSpec(family="ets", params={"n_jobs": 3})).params["n_jobs"] == 3
