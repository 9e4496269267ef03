"""`citybrain train --tune N`: one MLflow run per training, a nested run per Optuna trial, and
the tuned parameters in the trained model; same data, config and seed give the same metrics."""

from __future__ import annotations

import mlflow
import polars as pl
import pytest
from click.testing import CliRunner
from mlflow.tracking import MlflowClient

from features import CityTables, Store, load_task
from serving import main
from training import TrackingSettings, fit_final, run_backtest

SEARCH = """
  search_space:
    learning_rate: {low: 0.05, high: 0.3, log: true}
    num_leaves: {low: 7, high: 31}
"""


def test_tuning_runs_nested_trials_under_the_training_run(trained, tmp_path):
    task = tmp_path / "tuned.yaml"
    text = trained["task"].read_text()
    task.write_text(
        text.replace(
            "  params: {n_estimators: 40, learning_rate: 0.1, min_child_samples: 20}\n",
            "  params: {n_estimators: 40, learning_rate: 0.1, min_child_samples: 20}\n" + SEARCH,
        )
    )
    home = tmp_path / "home"
    env = {"CITYBRAIN_HOME": str(home)}
    args = ["train", "--data", str(trained["data"]), "--task", str(task), "--tune", "3"]
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 0, result.output
    assert (home / "optuna.db").exists()

    mlflow.set_tracking_uri(TrackingSettings(home=home).tracking_uri)
    client = MlflowClient()
    runs = client.search_runs(
        [e.experiment_id for e in client.search_experiments()], max_results=50
    )
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and len(children) == 3
    parent = parents[0]
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    # the training ran with the best trial's parameters and says what code and data it saw
    best = min(children, key=lambda c: c.data.metrics.get("mae", float("inf")))
    for p in ("learning_rate", "num_leaves"):
        assert parent.data.params[f"model.{p}"] == best.data.params[f"model.{p}"]
    assert parent.data.tags["code_version"]
    assert len(parent.data.params["data_fingerprint"]) == 16
    assert "model_fold_mae" in parent.data.metrics


def test_the_same_data_config_and_seed_give_the_same_metrics(trained):
    tables = CityTables.from_store(Store(trained["data"]))
    task = load_task(trained["task"])
    first = run_backtest(tables, task, progress=False)
    second = run_backtest(tables, task, progress=False)
    # equal to the last bits: Polars may sum a group's floats in another order between runs
    assert first.summary.keys() == second.summary.keys()
    assert first.summary == pytest.approx(second.summary, rel=1e-12, nan_ok=True)
    frame = first.frame.filter(pl.col("origin") == first.frame["origin"].max())
    a = fit_final(first).predict(frame, first.history)
    b = fit_final(second).predict(frame, second.history)
    assert a.equals(b)
