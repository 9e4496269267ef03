"""A weighted ensemble of fitted forecasters: quantiles averaged level by level.

Averaging quantile by quantile (Vincentization) keeps the ensemble a proper quantile forecast
whose spread reflects its members', and it is the combination that is hardest to beat in
forecasting competitions for its simplicity. Weights come from the backtest (inverse error);
``training.selection`` decides them and records why.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Self

import numpy as np
import polars as pl

from features import ConfigError, TargetHistory
from models.protocol import FORECAST_KEYS, Forecaster, history_covariates, history_span
from models.quantiles import monotone, quantile_column


def blend(forecasts: list[pl.DataFrame], weights: list[float], qcols: list[str]) -> pl.DataFrame:
    """Weighted mean of ``yhat`` and each quantile column over aligned forecasts."""
    if not forecasts or len(forecasts) != len(weights):
        raise ConfigError("an ensemble needs one weight per member", key="selection")
    total = float(sum(weights))
    cols = ["yhat", *qcols]
    first = forecasts[0].select(FORECAST_KEYS)
    mixed = {
        c: np.asarray(
            sum(f[c].to_numpy() * (w / total) for f, w in zip(forecasts, weights, strict=True))
        )
        for c in cols
    }
    return first.with_columns(
        pl.lit("ensemble").alias("model"), *(pl.Series(c, v) for c, v in mixed.items())
    ).with_columns(monotone(qcols))


class EnsembleForecaster:
    """Fitted members and their weights; ``fit`` refits every member."""

    family = "ensemble"

    def __init__(self, members: list[Forecaster], weights: list[float]) -> None:
        if len(members) != len(weights) or not members:
            raise ConfigError("an ensemble needs one weight per member", key="selection")
        self.members, self.weights = members, weights
        self.task, self.spec = members[0].task, members[0].spec

    @property
    def history_span(self) -> timedelta | None:
        spans = [s for s in (history_span(m) for m in self.members) if s is not None]
        return max(spans) if spans else None

    @property
    def history_covariates(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c for m in self.members for c in history_covariates(m)))

    def params(self) -> dict[str, Any]:
        return {
            "members": [m.family for m in self.members],
            "weights": [round(w, 4) for w in self.weights],
        }

    def fit(self, frame: pl.DataFrame, history: TargetHistory | None = None) -> Self:
        for m in self.members:
            m.fit(frame, history)
        return self

    def predict(self, frame: pl.DataFrame, history: TargetHistory | None = None) -> pl.DataFrame:
        qcols = [quantile_column(q) for q in self.task.quantiles]
        forecasts = [
            m.predict(frame, history).sort("series_id", "origin", "horizon") for m in self.members
        ]
        out = blend(forecasts, self.weights, qcols)
        # back to the input's row order
        order = frame.select(FORECAST_KEYS).with_row_index("_row")
        return (
            order.join(out, on=list(FORECAST_KEYS), how="left")
            .sort("_row")
            .drop("_row")
            .select(*FORECAST_KEYS, "model", "yhat", *qcols)
        )
