"""Tuning: real Optuna studies on SQLite over a tiny city (two folds, twenty trees a fit)."""

from __future__ import annotations

import functools
from dataclasses import replace
from pathlib import Path
from typing import Any

import optuna
import pytest
from threadpoolctl import threadpool_limits
from tiny_task import tiny_city, tiny_task_dict

from features import ConfigError, TaskConfig, parse_task
from training.backtest import BacktestData, backtest_model, prepare_backtest
from training.selection import metric_function
from training.tracking import TrackingSettings, configure, experiment_id
from training.tuning import (
    StorageError,
    TuningError,
    default_storage,
    parse_search_space,
    tune,
)

SPACE = {
    "learning_rate": {"low": 0.001, "high": 0.3, "log": True},
    "num_leaves": {"low": 4, "high": 16},
}


def tiny_task(space: dict[str, Any] | None = None) -> TaskConfig:
    # two folds of 6 h: the first holds the storm, the second is dry
    model = {
        "family": "lightgbm",
        "params": {"n_estimators": 20, "min_child_samples": 5, "target": "level"},
        "search_space": SPACE if space is None else space,
    }
    return parse_task(tiny_task_dict("tiny-tune", season_ref=None, model=model))


@functools.cache
def tiny_data() -> BacktestData:
    return prepare_backtest(tiny_city(days=2, seed=0), tiny_task())


@pytest.fixture(autouse=True)
def _one_thread():
    # LightGBM's OpenMP threads spin against each other on a busy machine (20x slower)
    with threadpool_limits(limits=1, user_api="openmp"):
        yield


def settings_at(home: Path) -> TrackingSettings:
    return TrackingSettings(home=home)


def test_a_study_runs_its_trials_and_the_same_seed_finds_the_same_best(tmp_path: Path) -> None:
    first = tune(tiny_data(), tiny_task(), n_trials=4, settings=settings_at(tmp_path / "a"))
    assert first.n_complete + first.n_pruned == 4 and first.n_failed == 0 and first.n_ran == 4
    assert (tmp_path / "a" / "optuna.db").exists()
    assert first.storage == default_storage(settings_at(tmp_path / "a"))
    assert first.study_name == "tiny-tune" and first.metric == "mae"
    table = first.trials
    assert table["number"].to_list() == [0, 1, 2, 3]
    complete = table.filter(table["state"] == "complete")
    assert first.best_value == pytest.approx(complete["value"].min())
    best_row = complete.filter(complete["value"] == complete["value"].min()).row(0, named=True)
    assert first.best_trial == best_row["number"]
    assert first.best_params == {
        "learning_rate": best_row["params_learning_rate"],
        "num_leaves": best_row["params_num_leaves"],
    }
    assert isinstance(first.best_params["num_leaves"], int)
    assert 0.001 <= first.best_params["learning_rate"] <= 0.3
    again = tune(tiny_data(), tiny_task(), n_trials=4, settings=settings_at(tmp_path / "b"))
    assert again.best_params == first.best_params
    assert again.best_value == first.best_value


def test_a_resumed_study_runs_only_the_remainder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_at(tmp_path)
    first = tune(tiny_data(), tiny_task(), n_trials=2, settings=settings, progress=False)
    assert first.n_ran == 2
    # a run killed mid-trial leaves its trial running
    optuna.load_study(study_name="tiny-tune", storage=first.storage).ask()
    second = tune(tiny_data(), tiny_task(), n_trials=4, settings=settings)
    assert second.n_ran == 2
    assert second.n_complete + second.n_pruned == 4
    assert second.n_failed == 1
    left = second.trials.filter(second.trials["state"] == "fail").row(0, named=True)
    assert left["number"] == 2 and left["fail_reason"] == "interrupted"
    err = capsys.readouterr().err
    assert "tune tiny-tune" in err and "4/4" in err
    assert f"best={second.best_value:.4g} (trial {second.best_trial})" in err
    third = tune(tiny_data(), tiny_task(), n_trials=4, settings=settings, progress=False)
    assert third.n_ran == 0 and third.trials.height == 5


def test_a_trial_behind_the_median_after_a_fold_is_pruned(tmp_path: Path) -> None:
    url = default_storage(settings_at(tmp_path))
    study = optuna.create_study(storage=url, study_name="pruning", direction="minimize")
    study.enqueue_trial({"learning_rate": 0.3, "num_leaves": 8})
    study.enqueue_trial({"learning_rate": 0.001, "num_leaves": 8})  # barely learns
    out = tune(
        tiny_data(),
        tiny_task(),
        n_trials=2,
        storage=url,
        study_name="pruning",
        progress=False,
        pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0),
    )
    assert out.trials["state"].to_list() == ["complete", "pruned"]
    assert out.trials["folds"].to_list() == [2, 1]
    assert (out.n_complete, out.n_pruned) == (1, 1)
    # what each fold reported is the running mean of the task's metric over the folds so far
    score = metric_function(tiny_task())
    folds = [
        score(p) for p in backtest_model(tiny_data(), tiny_task().model, overrides=out.best_params)
    ]
    reported = optuna.load_study(study_name="pruning", storage=url).trials[0].intermediate_values
    assert reported[0] == pytest.approx(folds[0])
    assert reported[1] == pytest.approx((folds[0] + folds[1]) / 2) == pytest.approx(out.best_value)


@pytest.mark.parametrize(
    ("space", "key", "words"),
    [
        ({}, "model.search_space", "is empty"),
        ({"learning_rate": [0.01, 0.1]}, "model.search_space.learning_rate", "must be a mapping"),
        (
            {"learning_rate": {"low": 0.01, "high": 0.1, "lgo": True}},
            "model.search_space.learning_rate",
            "unknown keys ['lgo']; allowed: {low, high[, log, step]}",
        ),
        ({"num_leaves": {"low": 64, "high": 16}}, "model.search_space.num_leaves", "below high"),
        ({"num_leaves": {"low": 16}}, "model.search_space.num_leaves", "missing ['high']"),
        (
            {"learning_rate": {"low": 0.0, "high": 0.1, "log": True}},
            "model.search_space.learning_rate",
            "log range needs low > 0",
        ),
        (
            {"learning_rate": {"low": "1e-4", "high": 0.1}},
            "model.search_space.learning_rate",
            "write 1.0e-4",
        ),
        (
            {"num_leaves": {"low": 4, "high": 64, "step": 0}},
            "model.search_space.num_leaves",
            "step",
        ),
        ({"target": {"choices": []}}, "model.search_space.target", "non-empty list"),
        ({"target": {"choices": ["level"], "low": 1}}, "model.search_space.target", "no other"),
    ],
)
def test_a_malformed_search_space_names_its_key_path(
    space: dict[str, Any], key: str, words: str
) -> None:
    with pytest.raises(ConfigError) as err:
        parse_search_space(space)
    assert err.value.key == key
    assert words in str(err.value)


def test_ranges_become_int_float_or_stepped_and_choices_categorical() -> None:
    space = parse_search_space(
        {
            "num_leaves": {"low": 4, "high": 64, "log": True},
            "learning_rate": {"low": 0.01, "high": 0.2},
            "min_child_samples": {"low": 5, "high": 50, "step": 5},
            "bagging_fraction": {"low": 0.5, "high": 1, "step": 0.1},
            "target": {"choices": ["delta", "level"]},
        }
    )
    trial = optuna.create_study().ask()
    for dim in space:
        dim.suggest(trial)
    d = trial.distributions
    assert isinstance(d["num_leaves"], optuna.distributions.IntDistribution) and d["num_leaves"].log
    assert isinstance(d["learning_rate"], optuna.distributions.FloatDistribution)
    assert d["min_child_samples"].step == 5
    assert isinstance(d["bagging_fraction"], optuna.distributions.FloatDistribution)
    assert d["bagging_fraction"].step == 0.1
    assert d["target"].choices == ("delta", "level")


@pytest.mark.parametrize(
    ("space", "key", "words"),
    [
        ({"num_leafs": {"low": 4, "high": 16}}, "model.search_space.num_leafs", "num_leaves"),
        (
            {"target": {"choices": ["level", "depth"]}},
            "model.search_space.target",
            "rejects target='depth'",
        ),
    ],
)
def test_a_parameter_the_family_does_not_take_fails_before_any_study(
    tmp_path: Path, space: dict[str, Any], key: str, words: str
) -> None:
    task = tiny_task(space)
    data = replace(tiny_data(), task=task)
    with pytest.raises(ConfigError) as err:
        tune(data, task, n_trials=2, settings=settings_at(tmp_path), progress=False)
    assert err.value.key == key
    assert words in str(err.value)
    assert optuna.get_all_study_names(default_storage(settings_at(tmp_path))) == []


def test_failing_trials_are_recorded_with_their_error_and_stop_the_study(tmp_path: Path) -> None:
    task = tiny_task({"num_leaves": {"choices": [1]}})  # LightGBM needs more than one leaf
    data = replace(tiny_data(), task=task)
    with pytest.raises(TuningError, match="3 trials in a row"):
        tune(data, task, n_trials=5, settings=settings_at(tmp_path), progress=False)
    study = optuna.load_study(
        study_name="tiny-tune", storage=default_storage(settings_at(tmp_path))
    )
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.FAIL] * 3
    assert all("num_leaves" in t.user_attrs["fail_reason"] for t in study.trials)


@pytest.mark.parametrize("driver", ["postgresql+psycopg", "postgresql"])
def test_an_unreachable_storage_is_named_without_its_password(driver: str) -> None:
    url = f"{driver}://citybrain:s3cret@127.0.0.1:1/nowhere"
    with pytest.raises(StorageError) as err:
        tune(tiny_data(), tiny_task(), n_trials=1, storage=url, progress=False)
    message = str(err.value)
    # a bare postgresql:// URL means psycopg 3 (psycopg2 is not a dependency)
    assert "postgresql+psycopg://citybrain:***@127.0.0.1:1/nowhere" in message
    assert "s3cret" not in message and "refused" in message


def test_a_study_tuned_on_another_metric_is_not_continued(tmp_path: Path) -> None:
    url = default_storage(settings_at(tmp_path))
    study = optuna.create_study(storage=url, study_name="tiny-tune")
    study.set_user_attr("metric", "crps")
    with pytest.raises(ConfigError) as err:
        tune(tiny_data(), tiny_task(), n_trials=1, storage=url, progress=False)
    assert err.value.key == "selection.metric"
    assert "tuned on crps" in str(err.value)
    assert study.trials == []


def test_each_trial_is_a_nested_mlflow_run_of_the_parent(tmp_path: Path) -> None:
    import mlflow

    settings = settings_at(tmp_path)
    client = configure(settings)
    exp = experiment_id(client, settings, tiny_task())
    with mlflow.start_run(experiment_id=exp, run_name="tune") as parent:
        out = tune(
            tiny_data(),
            tiny_task(),
            n_trials=3,
            settings=settings,
            parent_run_id=parent.info.run_id,
            progress=False,
        )
    pid = parent.info.run_id
    runs = client.search_runs([exp], filter_string=f"tags.mlflow.parentRunId = '{pid}'")
    assert sorted(r.info.run_name for r in runs) == ["trial-0", "trial-1", "trial-2"]
    values = {}
    for run in runs:
        assert run.info.status == "FINISHED"
        assert run.data.tags["state"] == "complete"
        assert set(run.data.params) == {"model.learning_rate", "model.num_leaves"}
        assert {"fold_0_mae", "fold_1_mae", "running_mae", "mae"} <= set(run.data.metrics)
        steps = [m.step for m in client.get_metric_history(run.info.run_id, "running_mae")]
        assert sorted(steps) == [0, 1]
        values[int(run.data.tags["optuna.trial"])] = run.data.metrics["mae"]
    assert values == dict(zip(out.trials["number"], out.trials["value"], strict=True))
    parent_run = client.get_run(pid)
    assert parent_run.data.metrics["tune_best_mae"] == pytest.approx(out.best_value)
    assert parent_run.data.tags["tune_study"] == "tiny-tune"
