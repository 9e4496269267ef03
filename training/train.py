"""Train a task end to end: backtest, fit on all history, log everything to MLflow, register.

One MLflow run per training: parameters, per-horizon metrics, event skill, the backtest
predictions, plots (backtest chart, MAE by horizon, feature importance, reliability), the
resolved task config and feature spec, and the model, registered and promoted only on evidence.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from features.tables import CityTables
from features.tasks import TaskConfig
from models import Forecaster
from models.ensemble import EnsembleForecaster
from training import plots
from training.backtest import BacktestResult, fit_forecaster, run_backtest
from training.selection import ENSEMBLE
from training.tracking import (
    CitybrainModel,
    TrackingSettings,
    configure,
    experiment_id,
    input_example,
    log_model,
    model_name,
    promote_if_better,
)

log = logging.getLogger(__name__)
PRIMARY_METRIC = "model_mae"


@dataclass(frozen=True)
class TrainOutcome:
    run_id: str
    model_name: str
    version: str
    alias: str
    reason: str
    backtest: BacktestResult
    seconds: float


def data_fingerprint(tables: CityTables) -> str:
    """A short hash of the observations' content, to tell training sets apart."""
    obs = tables.observations
    digest = hashlib.sha256()
    digest.update(str(obs.height).encode())
    if obs.height:
        digest.update(
            str(
                obs.select(pl.col("ts").min().alias("a"), pl.col("ts").max().alias("b")).row(0)
            ).encode()
        )
        digest.update(str(obs.hash_rows(seed=7).sum()).encode())
    digest.update(str(tables.series.hash_rows(seed=7).sum()).encode())
    return digest.hexdigest()[:16]


def train_task(
    tables: CityTables,
    task: TaskConfig,
    *,
    settings: TrackingSettings,
    overrides: dict[str, Any] | None = None,
    progress: bool = True,
) -> TrainOutcome:
    """Backtest, refit on everything, log to MLflow, register and promote if better."""
    import mlflow

    started = time.perf_counter()
    client = configure(settings)
    exp = experiment_id(client, settings, task)
    result = run_backtest(tables, task, overrides=overrides, progress=progress)
    with mlflow.start_run(experiment_id=exp, run_name=f"{task.name}-{result.chosen}") as run:
        params = {**task.model.params, **(overrides or {})}
        mlflow.log_params({f"model.{k}": v for k, v in params.items()})
        mlflow.log_params(
            {
                "task": task.name,
                "family": result.chosen,
                "candidates": ",".join(m.label for m in (task.model, *task.candidates)),
                "calibration": task.calibration.method,
                "baseline": task.baseline.family,
                "frequency": task.frequency,
                "horizons": ",".join(task.horizons),
                "quantiles": ",".join(str(q) for q in task.quantiles),
                "folds": task.backtest.folds,
                "fold_length": task.backtest.fold_length,
                "series": len(result.spec.series_codes),
                "features": len(result.spec.columns),
                "rows": result.frame.height,
                "data_fingerprint": data_fingerprint(tables),
                "task_hash": result.spec.task_hash,
            }
        )
        mlflow.log_metrics({k: v for k, v in result.summary.items() if v == v})
        final = fit_final(result, overrides)
        if result.selection is not None:
            mlflow.set_tags(
                {"selected": result.chosen, "selection_reason": result.selection.reason}
            )
        wrapper = CitybrainModel(final, task, result.spec)
        with tempfile.TemporaryDirectory() as tmp:
            _log_artifacts(Path(tmp), result, final, task)
        example = input_example(result.frame, result.spec)
        info = log_model(wrapper, name=model_name(task), example=example)
        version = str(info.registered_model_version)
        alias, reason = promote_if_better(
            client,
            name=model_name(task),
            version=version,
            metric=PRIMARY_METRIC,
            value=result.summary[PRIMARY_METRIC],
        )
        mlflow.set_tags({"promotion": alias, "promotion_reason": reason, "model_version": version})
        run_id = run.info.run_id
    return TrainOutcome(
        run_id, model_name(task), version, alias, reason, result, time.perf_counter() - started
    )


def fit_final(result: BacktestResult, overrides: dict[str, Any] | None = None) -> Forecaster:
    """The selected model (or ensemble) fitted on all history, calibrated as in the backtest."""
    task = result.task
    end = result.frame["ts"].max() + task.step
    specs = {m.label: m for m in (task.model, *task.candidates)}

    def fit(label: str) -> Forecaster:
        spec = specs[label]
        extra = overrides if spec is task.model else None
        return fit_forecaster(spec, result.frame, end, task, result.spec, extra, result.history)

    if result.chosen == ENSEMBLE:
        assert result.selection is not None
        weights = result.selection.weights
        return EnsembleForecaster([fit(m) for m in weights], list(weights.values()))
    return fit(result.chosen)


def _log_artifacts(tmp: Path, result: BacktestResult, final: Any, task: TaskConfig) -> None:
    import mlflow

    (tmp / "task.yaml").write_text(
        yaml.safe_dump(task.model_dump(mode="json"), allow_unicode=True, sort_keys=False)
    )
    (tmp / "feature_spec.json").write_text(json.dumps(result.spec.to_dict(), indent=2))
    result.predictions.write_parquet(tmp / "backtest_predictions.parquet")
    skill = {k: v.to_dict() for k, v in result.event_skill.items()}
    (tmp / "event_skill.json").write_text(json.dumps(skill, indent=2))
    for name in (
        "task.yaml",
        "feature_spec.json",
        "backtest_predictions.parquet",
        "event_skill.json",
    ):
        mlflow.log_artifact(
            str(tmp / name),
            artifact_path="config" if name.endswith((".yaml", ".json")) else "backtest",
        )
    charts = [
        plots.backtest_chart(result, tmp / "backtest.png"),
        plots.mae_by_horizon_chart(result, tmp / "mae_by_horizon.png"),
        plots.reliability_chart(result, tmp / "reliability.png"),
        plots.pit_histogram(result, tmp / "pit_histogram.png"),
    ]
    if hasattr(final, "feature_importance"):
        imp = final.feature_importance()
        charts.append(plots.feature_importance_chart(imp, tmp / "feature_importance.png"))
    for chart in charts:
        mlflow.log_artifact(str(chart), artifact_path="plots")
