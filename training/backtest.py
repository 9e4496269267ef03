"""Rolling-origin backtest: refit before each fold, forecast its origins, never peek ahead.

The evaluated period is the last ``folds x fold_length`` of the data. For each fold the model
and the baseline are fitted on rows whose target time lies before the fold starts (so no target
inside the fold leaks into training), then forecast every origin in the fold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import polars as pl
from tqdm.auto import tqdm

from features.durations import parse_duration
from features.errors import DataError
from features.event_series import with_event_series
from features.feature_spec import FeatureSpec
from features.history import TargetHistory, target_history
from features.pipeline import build_features, data_span, lookback, observed_targets, origin_range
from features.tables import CityTables
from features.tasks import ModelSpec, TaskConfig
from models import build_forecaster, exceedance_probability, with_exceedance
from models.registry import family_class
from training.metrics import EventSkill, event_skill, interval_coverage, mae, mae_by_horizon


@dataclass(frozen=True)
class Fold:
    index: int
    start: datetime
    end: datetime


@dataclass
class BacktestResult:
    task: TaskConfig
    predictions: pl.DataFrame
    folds: list[Fold]
    observed: pl.DataFrame
    spec: FeatureSpec
    frame: pl.DataFrame
    history: TargetHistory | None = None
    eval_origins: pl.Series = field(default_factory=lambda: pl.Series("origin", []))
    summary: dict[str, Any] = field(default_factory=dict)
    event_skill: dict[str, EventSkill] = field(default_factory=dict)


def plan_folds(task: TaskConfig, first: datetime, last: datetime) -> list[Fold]:
    """Fold windows ending at the last origin whose every horizon is observable."""
    cfg = task.backtest
    length = parse_duration(cfg.fold_length)
    horizon = max(parse_duration(h) for h in task.horizons)
    end = last - horizon
    start = end - cfg.folds * length
    if start - parse_duration(cfg.min_train) < first + lookback(task):
        raise DataError(
            f"not enough history for {cfg.folds} folds of {cfg.fold_length} after "
            f"{cfg.min_train} of training: data span {first:%Y-%m-%d %H:%M} to "
            f"{last:%Y-%m-%d %H:%M}; shorten backtest.folds/fold_length/min_train or add data"
        )
    return [Fold(i, start + i * length, start + (i + 1) * length) for i in range(cfg.folds)]


def run_backtest(
    tables: CityTables,
    task: TaskConfig,
    *,
    overrides: dict[str, Any] | None = None,
    progress: bool = True,
) -> BacktestResult:
    """Backtest the task's model and baseline; predictions carry ``model`` and ``fold``."""
    check_families(task)
    # count series from events once; the pipeline's own calls then find them present
    tables = with_event_series(tables, task)
    first, last = data_span(tables, task)
    folds = plan_folds(task, first, last)
    train_start = first + lookback(task)
    origins = origin_range(train_start, folds[-1].end, parse_duration(task.train.origin_stride))
    eval_origins = origin_range(
        folds[0].start, folds[-1].end, parse_duration(task.backtest.origin_stride)
    )
    frame = build_features(tables, task, pl.concat([origins, eval_origins]).unique().sort())
    spec = FeatureSpec.from_frame(frame, task, frame["series_id"].unique().to_list())
    history = target_history(tables, task, first, last)

    outputs = []
    bar = tqdm(folds, desc=f"backtest {task.name}", unit="fold", disable=not progress)
    for fold in bar:
        for model_spec, extra in ((task.model, overrides), (task.baseline, None)):
            outputs.append(
                fold_forecasts(frame, fold, task, spec, model_spec, extra, eval_origins, history)
            )
    predictions = pl.concat(outputs).sort("model", "series_id", "origin", "horizon")
    predictions = with_exceedance(predictions, task)
    observed = observed_targets(
        tables, task, folds[0].start, folds[-1].end + max(parse_duration(h) for h in task.horizons)
    )
    result = BacktestResult(
        task=task,
        predictions=predictions,
        folds=folds,
        observed=observed,
        spec=spec,
        frame=frame,
        history=history,
        eval_origins=eval_origins,
    )
    summarise(result)
    return result


def fold_forecasts(
    frame: pl.DataFrame,
    fold: Fold,
    task: TaskConfig,
    spec: FeatureSpec,
    model_spec: ModelSpec,
    overrides: dict[str, Any] | None,
    eval_origins: pl.Series,
    history: TargetHistory | None = None,
) -> pl.DataFrame:
    """Fit one family on the rows known before the fold and forecast the fold's origins.

    The fit sees the target history only before the fold; predictions may read it up to each
    origin (``history`` runs to the end of the data; families read no further than the row's
    origin)."""
    train = training_window(frame, fold.start, task)
    test = frame.filter(
        (pl.col("origin") >= fold.start)
        & (pl.col("origin") < fold.end)
        & pl.col("origin").is_in(eval_origins.implode())
    )
    forecaster = build_forecaster(model_spec, task=task, spec=spec, overrides=overrides)
    forecaster.fit(train, history.until(fold.start) if history is not None else None)
    return (
        forecaster.predict(test, history)
        .join(
            test.select("series_id", "origin", "horizon", "y"),
            on=["series_id", "origin", "horizon"],
            how="left",
        )
        .with_columns(pl.lit(fold.index).alias("fold"))
    )


def check_families(task: TaskConfig) -> None:
    """Fail on an unknown model family before any data is read."""
    for key, spec in (("model.family", task.model), ("baseline.family", task.baseline)):
        family_class(spec.family, key=key)


def training_window(frame: pl.DataFrame, end: datetime, task: TaskConfig) -> pl.DataFrame:
    """Rows a model fitted at ``end`` may learn from: target observed before ``end``, origin
    within the task's ``train.history``."""
    history = parse_duration(task.train.history)
    return frame.filter((pl.col("ts") < end) & (pl.col("origin") >= end - history))


def summarise(result: BacktestResult) -> None:
    """Fill ``summary`` (flat metrics for MLflow) and ``event_skill`` per model."""
    task, preds = result.task, result.predictions
    warning = task.warning
    max_lead = max(parse_duration(h) for h in task.horizons)
    for model in preds["model"].unique().sort().to_list():
        rows = preds.filter(pl.col("model") == model)
        tag = "model" if model == task.model.family else "baseline"
        result.summary[f"{tag}_mae"] = mae(rows)
        result.summary[f"{tag}_coverage_80"] = interval_coverage(rows)
        for r in mae_by_horizon(rows).iter_rows(named=True):
            minutes = int(r["horizon"] / timedelta(minutes=1))
            result.summary[f"{tag}_mae_h{minutes}m"] = r["mae"]
        if warning is not None and warning.event_threshold is not None:
            p_event = exceedance_probability(
                rows, warning.event_threshold, task.quantiles, below=warning.direction == "below"
            )
            rows = rows.with_columns(pl.Series("_p_event", p_event))
            skill = event_skill(
                rows,
                result.observed,
                threshold=warning.event_threshold,
                warn=pl.col("_p_event") >= warning.probability,
                max_lead=max_lead,
            )
            result.event_skill[tag] = skill
            for k, v in skill.to_dict().items():
                if v is not None and k != "threshold":
                    result.summary[f"{tag}_event_{k}"] = float(v)
