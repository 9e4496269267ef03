"""The forecaster protocol every model family implements, and the Forecast frame it returns.

``fit(frame) -> self`` on a feature frame with ``y``; ``predict(frame) -> Forecast`` with
``series_id, origin, ts, horizon, model, yhat`` and one column per quantile (at least q10, q50,
q90), monotone across quantiles. Constructors take hyperparameters, the task and the feature
spec only, so Optuna and the registry can build any family from a parameter dict.
"""

from __future__ import annotations

from typing import Any, Protocol, Self

import polars as pl

from features.errors import DataError, NotFittedError
from features.feature_spec import FeatureSpec
from features.tasks import TaskConfig
from models.quantiles import quantile_column

FORECAST_KEYS = ("series_id", "origin", "ts", "horizon")


class Forecaster(Protocol):
    family: str
    task: TaskConfig
    spec: FeatureSpec

    def fit(self, frame: pl.DataFrame) -> Self: ...

    def predict(self, frame: pl.DataFrame) -> pl.DataFrame: ...

    def params(self) -> dict[str, Any]: ...


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
