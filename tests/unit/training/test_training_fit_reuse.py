"""One fit serves every use of it: a calibrated backtest fits each fold's model once and uses
it again as the next fold's calibration probe, and the final model's probe is the last fold's
model; the forecasts are exactly those of fitting every probe afresh."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from threadpoolctl import threadpool_limits
from tiny_task import tiny_city, tiny_task_dict

from features import TaskConfig, parse_task
from training.backtest import (
    FitCache,
    fit_forecaster,
    fold_forecasts,
    prepare_backtest,
    run_backtest,
)
from training.train import fit_final


def _task() -> TaskConfig:
    # folds as long as the calibration holdout: each fold's model is the next's probe
    return parse_task(
        tiny_task_dict(
            "tiny-reuse",
            backtest={"folds": 3, "fold_length": "6h", "origin_stride": "1h", "min_train": "12h"},
            calibration={"method": "scale", "holdout": "6h"},
        )
    )


@pytest.fixture(autouse=True)
def _one_thread():
    with threadpool_limits(limits=1, user_api="openmp"):
        yield


def test_each_fold_model_is_the_next_folds_probe_and_forecasts_are_unchanged() -> None:
    tables, task = tiny_city(days=3), _task()
    data = prepare_backtest(tables, task)
    result = run_backtest(tables, task, data=data, progress=False)
    # two of the three probes were the previous fold's model, for the model and the baseline
    fitted = {m.label: result.fits.ends(m, None) for m in (task.model, task.baseline)}
    assert all(len(ends) == len(data.folds) + 1 for ends in fitted.values()), fitted
    assert result.fits.hits == 2 * (len(data.folds) - 1)
    # the same forecasts as fitting every probe afresh
    for fold in data.folds:
        fresh = fold_forecasts(
            data.frame, fold, task, data.spec, task.model, None, data.eval_origins, data.history
        )
        cached = result.predictions.filter(
            (pl.col("model") == task.model.label) & (pl.col("fold") == fold.index)
        ).select(fresh.columns)
        assert_frame_equal(
            cached.sort("series_id", "origin", "horizon"),
            fresh.sort("series_id", "origin", "horizon"),
        )


def test_the_final_models_probe_is_the_last_folds_model() -> None:
    tables, task = tiny_city(days=3), _task()
    result = run_backtest(tables, task, progress=False)
    before = result.fits.hits
    final = fit_final(result)
    assert result.fits.hits == before + 1
    # the same model as one calibrated afresh on a probe fitted where the last fold starts
    end = result.frame["ts"].max() + task.step
    fresh = fit_forecaster(
        task.model,
        result.frame,
        end,
        task,
        result.spec,
        None,
        result.history,
        cache=FitCache(),
        probe_end=result.folds[-1].start,
    )
    rows = result.frame.filter(pl.col("origin") == pl.col("origin").max())
    assert_frame_equal(final.predict(rows, result.history), fresh.predict(rows, result.history))


def test_every_origin_is_in_one_fold_and_the_datas_last_observable_origin_is_backtested() -> None:
    tables, task = tiny_city(days=3), _task()
    data = prepare_backtest(tables, task)
    result = run_backtest(tables, task, data=data, progress=False)
    model = result.predictions.filter(pl.col("model") == task.model.label)
    last = data.folds[-1].end  # the last origin whose every horizon is observed
    assert model["origin"].max() == last
    assert model.filter(pl.col("origin") == last)["y"].null_count() == 0
    per_fold = model.group_by("origin").agg(pl.col("fold").n_unique().alias("folds"))
    assert per_fold["folds"].max() == 1  # a fold's end is the next fold's start, once
    assert model["origin"].n_unique() == data.eval_origins.len()
