"""Train a task end to end: backtest, fit on all history, log everything to MLflow, register.

One MLflow run per training: parameters, per-horizon metrics, event skill, the backtest
predictions, plots (backtest chart, MAE by horizon, feature importance, reliability), the
resolved task config and feature spec, and the model, registered and promoted only on evidence.
"""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from features import CityTables, FeatureSpec, TaskConfig, feature_null_shares, time_span
from models import EnsembleForecaster, Forecaster
from training import plots
from training.backtest import (
    BacktestData,
    BacktestResult,
    fit_forecaster,
    prepare_backtest,
    run_backtest,
)
from training.promotion import decide_promotion, paired_scores
from training.selection import ENSEMBLE
from training.tracking import (
    CitybrainModel,
    TrackingSettings,
    configure,
    experiment_id,
    input_example,
    log_model,
    model_name,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainOutcome:
    run_id: str
    model_name: str
    version: str
    alias: str
    reason: str
    backtest: BacktestResult
    seconds: float


def data_fingerprint(tables: CityTables, spec: FeatureSpec | None = None) -> str:
    """A short hash of every input table's content and of the feature spec: two runs with the
    same fingerprint were trained on the same data with the same features."""
    digest = hashlib.sha256()
    for name in ("series", "observations", "events", "weather_forecasts", "areas"):
        table = getattr(tables, name)
        digest.update(f"{name}:{table.height}:{','.join(table.columns)}".encode())
        if table.height:
            digest.update(str(table.hash_rows(seed=7).sum()).encode())
    if spec is not None:
        digest.update(json.dumps(spec.to_dict(), sort_keys=True).encode())
    return digest.hexdigest()[:16]


def code_version() -> str:
    """The git commit of the code that trained (``+dirty`` with uncommitted changes), or the
    installed package version outside a checkout."""
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        from importlib.metadata import PackageNotFoundError, version

        try:
            return f"citybrain {version('citybrain')}"
        except PackageNotFoundError:
            return "unknown"


@dataclass(frozen=True)
class TuningRequest:
    """``citybrain train --tune N``: tune first, in the training's MLflow run."""

    n_trials: int
    storage: str | None = None
    study_name: str | None = None


def train_task(
    tables: CityTables,
    task: TaskConfig,
    *,
    settings: TrackingSettings,
    overrides: dict[str, Any] | None = None,
    progress: bool = True,
    tuning: TuningRequest | None = None,
) -> TrainOutcome:
    """(Tune,) backtest, refit on everything, log to MLflow, register and promote if better.

    One MLflow run per training; with ``tuning`` each Optuna trial is a nested run under it and
    the best parameters are what the backtest and the final model use.
    """
    import mlflow

    started = time.perf_counter()
    client = configure(settings)
    exp = experiment_id(client, settings, task)
    data = prepare_backtest(tables, task)
    task = data.task  # as prepared: estimated travel times are part of what is recorded
    with mlflow.start_run(experiment_id=exp, run_name=f"{task.name}-{task.model.label}") as run:
        if tuning is not None:
            overrides = _tuned_overrides(
                data,
                task,
                tuning,
                overrides=overrides,
                settings=settings,
                parent_run_id=run.info.run_id,
                progress=progress,
            )
        result = run_backtest(
            tables, task, overrides=overrides, progress=progress, data=data, replay=("model",)
        )
        mlflow.set_tag("mlflow.runName", f"{task.name}-{result.chosen}")
        _log_params(tables, task, result, overrides=overrides)
        _log_feature_coverage(result)
        mlflow.set_tag("code_version", code_version())
        _log_fold_metrics(result)
        mlflow.log_metrics({k: v for k, v in result.summary.items() if v == v})
        final = fit_final(result, overrides)
        result.fits.clear()
        if result.selection is not None:
            mlflow.set_tags(
                {"selected": result.chosen, "selection_reason": result.selection.reason}
            )
        version = _log_final_model(final, result, task)
        alias, reason = _promote(client, task, version, result=result, data=data, tables=tables)
        run_id = run.info.run_id
    return TrainOutcome(
        run_id, model_name(task), version, alias, reason, result, time.perf_counter() - started
    )


def _tuned_overrides(
    data: BacktestData,
    task: TaskConfig,
    tuning: TuningRequest,
    *,
    overrides: dict[str, Any] | None,
    settings: TrackingSettings,
    parent_run_id: str,
    progress: bool,
) -> dict[str, Any]:
    """Tune in the training's run (trials nested under ``parent_run_id``); the best parameters
    win over the caller's ``overrides``, so the backtest and final fit use what the study found."""
    from training.tuning import tune

    tuned = tune(
        data,
        task,
        n_trials=tuning.n_trials,
        storage=tuning.storage,
        study_name=tuning.study_name,
        settings=settings,
        parent_run_id=parent_run_id,
        progress=progress,
    )
    return {**(overrides or {}), **tuned.best_params}


def _log_params(
    tables: CityTables,
    task: TaskConfig,
    result: BacktestResult,
    *,
    overrides: dict[str, Any] | None,
) -> None:
    """The model's hyperparameters (``model.*``, overrides winning) and what the run was
    trained on, so two runs can be compared and a run reproduced from its parameters."""
    import mlflow

    params = {**task.model.params, **(overrides or {})}
    mlflow.log_params({f"model.{k}": v for k, v in params.items()})
    mlflow.log_params(
        {
            "task": task.name,
            "family": result.chosen,
            "candidates": ",".join(m.label for m in (task.model, *task.candidates)),
            "calibration": task.calibration.method,
            "baseline": task.baseline.family,
            "frequency": str(task.frequency),
            "horizons": ",".join(map(str, task.horizons)),
            "quantiles": ",".join(str(q) for q in task.quantiles),
            "folds": task.backtest.folds,
            "fold_length": str(task.backtest.fold_length),
            "series": len(result.spec.series_codes),
            "features": len(result.spec.columns),
            "rows": result.frame.height,
            "data_fingerprint": data_fingerprint(tables, result.spec),
            "task_hash": result.spec.task_hash,
        }
    )


def _log_feature_coverage(result: BacktestResult) -> None:
    """Every feature column's null share (``config/feature_null_shares.json``) and the mostly
    empty ones as the tag ``sparse_features``, so a model that trained without its rain is
    visible in the run, not only in the console."""
    import mlflow

    shares = feature_null_shares(result.frame, result.spec.columns)
    mlflow.log_dict(shares, "config/feature_null_shares.json")
    listed = ", ".join(f"{f.column} ({f.null_share:.0%})" for f in result.sparse)
    mlflow.set_tag("sparse_features", listed or "none")


def _log_final_model(final: Forecaster, result: BacktestResult, task: TaskConfig) -> str:
    """Log the artifacts and the final model in the active run; returns the version the model
    was registered as (not yet promoted)."""
    wrapper = CitybrainModel(final, task, result.spec)
    with tempfile.TemporaryDirectory() as tmp:
        _log_artifacts(Path(tmp), result, final, task)
    example = input_example(result.frame, result.spec)
    info = log_model(wrapper, name=model_name(task), example=example)
    return str(info.registered_model_version)


def _promote(
    client: Any,
    task: TaskConfig,
    version: str,
    *,
    result: BacktestResult,
    data: BacktestData,
    tables: CityTables,
) -> tuple[str, str]:
    """Make ``version`` champion or challenger on paired evidence, and tag the run with the
    decision so it can be read from the run as well as from the registry."""
    import mlflow

    alias, reason = decide_promotion(
        client,
        model_name(task),
        version,
        paired_scores(result.predictions, task, model=result.chosen),
        data,
        task,
        tables=tables,
    )
    mlflow.set_tags({"promotion": alias, "promotion_reason": reason, "model_version": version})
    return alias, reason


def _log_fold_metrics(result: BacktestResult) -> None:
    """Per-fold MAE of every model, as metrics stepped by fold (MLflow draws them as lines)."""
    import mlflow

    preds = result.predictions.filter(pl.col("y").is_not_null())
    table = preds.group_by("model", "fold").agg((pl.col("y") - pl.col("yhat")).abs().mean())
    for model, fold, value in table.iter_rows():
        tag = "model" if model == result.chosen else model
        mlflow.log_metric(f"{tag}_fold_mae", float(value), step=int(fold))


def fit_final(result: BacktestResult, overrides: dict[str, Any] | None = None) -> Forecaster:
    """The selected model (or ensemble) fitted on all history, calibrated as in the backtest.

    Its calibration probe is the backtest's model of the last fold where that was fitted at
    least ``calibration.holdout`` before the end (folds as long as the holdout): the same
    family and parameters, already fitted, held out on the last fold and the hours after it;
    else a probe is fitted ``holdout`` before the end.
    """
    task = result.task
    end = time_span(result.frame["ts"])[1] + task.step
    specs = {m.label: m for m in (task.model, *task.candidates)}
    last = result.folds[-1].start if result.folds else None
    reuse = last is not None and last <= end - task.calibration.holdout

    def fit(label: str) -> Forecaster:
        spec = specs[label]
        extra = overrides if spec is task.model else None
        probe = last if reuse and last in result.fits.ends(spec, extra) else None
        return fit_forecaster(
            spec,
            result.frame,
            end,
            task,
            result.spec,
            extra,
            result.history,
            cache=result.fits,
            probe_end=probe,
        )

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
        plots.residuals_by_hour(result, tmp / "residuals_by_hour.png"),
    ]
    if hasattr(final, "feature_importance"):
        imp = final.feature_importance()
        charts.append(plots.feature_importance_chart(imp, tmp / "feature_importance.png"))
    for chart in charts:
        mlflow.log_artifact(str(chart), artifact_path="plots")
