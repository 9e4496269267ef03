"""The forecaster protocol every model family implements, and the Forecast frame it returns.

``fit(frame, history) -> self`` on a feature frame with ``y``; ``predict(frame, history) ->
Forecast`` with ``series_id, origin, ts, horizon, model, yhat`` and one column per quantile (at
least q10, q50, q90), monotone across quantiles. Constructors take hyperparameters, the task and
the feature spec only, so Optuna and the registry can build any family from a parameter dict.

``history`` is the target's dense series (``features.history.TargetHistory``). Tabular families
ignore it; sequence families (statsmodels, PyTorch) need it and say how much of it through
``history_span`` (and, where they read an observed covariate step by step, which ones through
``history_covariates``). In ``fit`` it ends before the first target time the model must not see; in
``predict`` it may run past an origin, and a family reads only bins at or before each row's
origin (the contract battery perturbs the future and checks).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Protocol, Self, TypeVar

import polars as pl

from features import DataError, FeatureSpec, NotFittedError, TargetHistory, TaskConfig
from models.quantiles import quantile_column

T = TypeVar("T")

FORECAST_KEYS = ("series_id", "origin", "ts", "horizon")


class Forecaster(Protocol):
    family: str
    task: TaskConfig
    spec: FeatureSpec

    def fit(self, frame: pl.DataFrame, history: TargetHistory | None = None) -> Self: ...

    def predict(
        self, frame: pl.DataFrame, history: TargetHistory | None = None
    ) -> pl.DataFrame: ...

    def params(self) -> dict[str, Any]: ...


def history_span(forecaster: Any) -> timedelta | None:
    """How much target history before an origin the family reads; None: it reads none."""
    return getattr(forecaster, "history_span", None)


def history_covariates(forecaster: Any) -> tuple[str, ...]:
    """The observed covariates the family reads step by step beside the target history (by
    name, for ``features.history.target_history``); most read none."""
    return tuple(getattr(forecaster, "history_covariates", ()))


def require_history(history: TargetHistory | None, family: str) -> TargetHistory:
    if history is None:
        raise DataError(
            f"the {family} forecaster reads the target's history; pass a TargetHistory "
            "(features.history.target_history) to fit and predict"
        )
    return history


def forecast_columns(task: TaskConfig) -> list[str]:
    return [*FORECAST_KEYS, "model", "yhat", *(quantile_column(q) for q in task.quantiles)]


def training_rows(frame: pl.DataFrame) -> pl.DataFrame:
    """The rows a model may learn from: a known target."""
    if "y" not in frame.columns:
        raise DataError("the training frame has no target column 'y'")
    rows = frame.filter(pl.col("y").is_not_null() & pl.col("y").is_finite())
    if rows.is_empty():
        raise DataError("no rows with an observed target to train on")
    return rows


def require_fitted(fitted: bool, family: str) -> None:
    if not fitted:
        raise NotFittedError(f"the {family} forecaster must be fitted before it can predict")


def fitted(state: T | None, family: str) -> T:
    """A piece of fitted state (``boosters_``, ``slots_``), or NotFittedError when ``predict``
    comes before ``fit``; typed, so the code after it reads the state as present."""
    require_fitted(state is not None, family)
    assert state is not None
    return state
