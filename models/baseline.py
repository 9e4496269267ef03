"""Baselines: seasonal naive and the historical average by time of week.

Seasonal naive: the target one season before, with quantiles from its own past errors.

The reference value comes from the feature pipeline (``seasonal_ref``, the task's
``features.season_ref``); a one-step season is persistence. Where the reference is missing (a
sensor gap) it falls back to the training median of the target per horizon, so the baseline
forecasts every row the model does and the two are compared on the same rows. Quantiles are
the point forecast plus empirical quantiles of the training residuals per horizon, so the
baseline's intervals and exceedance probabilities are as honest as its point forecast.

Historical average: per series and slot of the local week (at the task's step), the mean of
the target over the training history, with the slot's empirical quantiles as its interval. It is
the climatology a forecast must beat at long horizons, where persistence has decayed.
"""

from __future__ import annotations

from typing import Any, Self

import polars as pl

from features import (
    LOCAL_TZ,
    SIGNALS,
    ConfigError,
    DataError,
    FeatureSpec,
    TargetHistory,
    TaskConfig,
)
from models.protocol import FORECAST_KEYS, fitted, require_history, training_rows
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
        return {"season": str(self.task.features.season_ref)}

    def fit(self, frame: pl.DataFrame, history: TargetHistory | None = None) -> Self:
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

    def predict(self, frame: pl.DataFrame, history: TargetHistory | None = None) -> pl.DataFrame:
        residuals = fitted(self.residual_quantiles_, self.family)
        fallback = fitted(self.fallback_, self.family)
        low = SIGNALS[self.task.target.signal].low if self.task.target.signal in SIGNALS else None
        qcols = [quantile_column(q) for q in self.task.quantiles]
        out = (
            frame.select(*FORECAST_KEYS, "seasonal_ref")
            .join(residuals, on="horizon", how="left")
            .join(fallback, on="horizon", how="left")
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


_WEEK_S = 7 * 24 * 3600


def week_slot(column: str, step_s: int, tz: str = LOCAL_TZ) -> pl.Expr:
    """The slot of the week on zone ``tz``'s clock (Monday 00:00 = 0) at ``step_s`` resolution."""
    local = pl.col(column).dt.convert_time_zone(tz)
    seconds = (
        (local.dt.weekday().cast(pl.Int64) - 1) * 86_400
        + local.dt.hour().cast(pl.Int64) * 3600
        + local.dt.minute().cast(pl.Int64) * 60
    )
    return (seconds % _WEEK_S) // max(step_s, 60)


class HistoricalAverageForecaster:
    """Mean and quantiles of the target by series and slot of the week, from history."""

    family = "historical_average"

    def __init__(self, *, task: TaskConfig, spec: FeatureSpec, **params: Any) -> None:
        if params:
            raise ConfigError(
                f"historical_average takes no parameters (got {sorted(params)}); its window is "
                "train.history",
                key="model.params",
            )
        self.task, self.spec = task, spec
        self.step_s = int(task.step.total_seconds())
        self.slots_: pl.DataFrame | None = None
        self.series_: pl.DataFrame | None = None

    def params(self) -> dict[str, Any]:
        return {"window": str(self.task.train.history)}

    def _stats(self) -> list[pl.Expr]:
        return [
            pl.col("value").mean().alias("yhat"),
            *(
                pl.col("value").quantile(q, interpolation="linear").alias(quantile_column(q))
                for q in self.task.quantiles
            ),
        ]

    def fit(self, frame: pl.DataFrame, history: TargetHistory | None = None) -> Self:
        hist = require_history(history, self.family)
        since = hist.end - self.task.train.history
        values = (
            hist.frame()
            .filter(pl.col("value").is_not_null() & (pl.col("ts") > since))
            .with_columns(week_slot("ts", self.step_s, self.task.features.timezone).alias("_slot"))
        )
        if values.is_empty():
            raise DataError("no target history to average")
        self.slots_ = values.group_by("series_id", "_slot").agg(self._stats())
        self.series_ = values.group_by("series_id").agg(self._stats())
        return self

    def predict(self, frame: pl.DataFrame, history: TargetHistory | None = None) -> pl.DataFrame:
        slots = fitted(self.slots_, self.family)
        series = fitted(self.series_, self.family)
        qcols = [quantile_column(q) for q in self.task.quantiles]
        cols = ["yhat", *qcols]
        keyed = frame.select(FORECAST_KEYS).with_columns(
            week_slot("ts", self.step_s, self.task.features.timezone).alias("_slot")
        )
        out = keyed.join(slots, on=["series_id", "_slot"], how="left", maintain_order="left").join(
            series, on="series_id", how="left", suffix="_all", maintain_order="left"
        )
        out = out.with_columns(
            pl.coalesce(pl.col(c), pl.col(f"{c}_all"), pl.lit(0.0)).alias(c) for c in cols
        )
        return out.select(*FORECAST_KEYS, pl.lit(self.family).alias("model"), *cols).with_columns(
            monotone(qcols)
        )
