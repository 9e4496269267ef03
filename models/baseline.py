"""Seasonal naive: the target one season before, with quantiles from its own past errors.

The reference value comes from the feature pipeline (``seasonal_ref``, the task's
``features.season_ref``); a one-step season is persistence. Where the reference is missing (a
sensor gap) it falls back to the training median of the target per horizon, so the baseline
forecasts every row the model does and the two are compared on the same rows. Quantiles are
the point forecast plus empirical quantiles of the training residuals per horizon, so the
baseline's intervals and exceedance probabilities are as honest as its point forecast.
"""

from __future__ import annotations

from typing import Any, Self

import polars as pl

from features.errors import ConfigError
from features.feature_spec import FeatureSpec
from features.schemas import SIGNALS
from features.tasks import TaskConfig
from models.protocol import FORECAST_KEYS, require_fitted, training_rows
from models.quantiles import monotone, quantile_column


class SeasonalNaiveForecaster:
    family = "seasonal_naive"

    def __init__(self, *, task: TaskConfig, spec: FeatureSpec, **params: Any) -> None:
        if params:
            raise ConfigError(
                f"seasonal_naive takes no parameters (got {sorted(params)}); its season is "
                "features.season_ref",
                key="baseline.params",
            )
        if not task.features.season_ref:
            raise ConfigError(
                "the seasonal-naive baseline needs features.season_ref", key="features.season_ref"
            )
        self.task, self.spec = task, spec
        self.residual_quantiles_: pl.DataFrame | None = None
        self.fallback_: pl.DataFrame | None = None

    def params(self) -> dict[str, Any]:
        return {"season": self.task.features.season_ref}

    def fit(self, frame: pl.DataFrame) -> Self:
        everything = training_rows(frame)
        self.fallback_ = everything.group_by("horizon").agg(pl.col("y").median().alias("_fallback"))
        rows = everything.filter(pl.col("seasonal_ref").is_not_null())
        resid = pl.col("y") - pl.col("seasonal_ref")
        self.residual_quantiles_ = rows.group_by("horizon").agg(
            [
                resid.quantile(q, interpolation="linear").alias(quantile_column(q))
                for q in self.task.quantiles
            ]
        )
        return self

    def predict(self, frame: pl.DataFrame) -> pl.DataFrame:
        require_fitted(self.residual_quantiles_ is not None, self.family)
        low = SIGNALS[self.task.target.signal].low if self.task.target.signal in SIGNALS else None
        qcols = [quantile_column(q) for q in self.task.quantiles]
        out = (
            frame.select(*FORECAST_KEYS, "seasonal_ref")
            .join(self.residual_quantiles_, on="horizon", how="left")
            .join(self.fallback_, on="horizon", how="left")
            .with_columns(pl.coalesce("seasonal_ref", "_fallback").alias("seasonal_ref"))
        )
        point = pl.col("seasonal_ref")
        exprs = []
        for c in qcols:
            value = point + pl.col(c).fill_null(0.0)
            if low is not None:
                value = pl.max_horizontal(value, pl.lit(low))
            exprs.append(value.alias(c))
        out = out.with_columns(exprs).with_columns(
            pl.col("seasonal_ref").alias("yhat"), pl.lit(self.family).alias("model")
        )
        return out.select(*FORECAST_KEYS, "model", "yhat", *qcols).with_columns(monotone(qcols))
