"""One thread budget, CITYBRAIN_THREADS, for every parallel part: read, refused when wrong,
and followed by LightGBM's threads and the statistical families' process pool."""

from __future__ import annotations

import os

import pytest
from test_sarimax_rain import make_task

from features import ConfigError, FeatureSpec, busy_machine_hint, thread_budget
from models.registry import build_forecaster


def test_the_budget_is_the_cores_unless_set_and_a_bad_value_is_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CITYBRAIN_THREADS", raising=False)
    assert thread_budget() == len(os.sched_getaffinity(0))
    monkeypatch.setenv("CITYBRAIN_THREADS", " 1 ")
    assert thread_budget() == 1
    assert busy_machine_hint() is None  # set: nothing to suggest
    for bad in ("0", "-2", "two", "1.5"):
        monkeypatch.setenv("CITYBRAIN_THREADS", bad)
        with pytest.raises(ConfigError) as err:
            thread_budget()
        assert "CITYBRAIN_THREADS" in str(err.value) and repr(bad) in str(err.value)


def test_lightgbm_and_the_statistical_pool_follow_the_budget_unless_a_config_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    task = make_task()
    spec = FeatureSpec(task=task.name, columns=())
    gbm = task.model.model_copy(update={"family": "lightgbm", "params": {}})
    monkeypatch.setenv("CITYBRAIN_THREADS", "1")
    assert build_forecaster(gbm, task=task, spec=spec)._lgb_params(0.5)["num_threads"] == 1
    assert build_forecaster(task.model, task=task, spec=spec).n_jobs == 1
    monkeypatch.setenv("CITYBRAIN_THREADS", "3")
    assert build_forecaster(gbm, task=task, spec=spec)._lgb_params(0.5)["num_threads"] == 3
    assert build_forecaster(task.model, task=task, spec=spec).n_jobs == 3
    # a family's own n_jobs wins
    mine = gbm.model_copy(update={"params": {"n_jobs": 2}})
    assert build_forecaster(mine, task=task, spec=spec)._lgb_params(0.5)["num_threads"] == 2
