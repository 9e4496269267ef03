"""The rate-of-rise rule: the warning a hydrologist sets without a model.

At each origin it takes the target's trend over the last ``window`` (the latest reading minus
the reading ``window`` before, per unit of time) and extrapolates it in a straight line: the
forecast for ``origin + h`` is ``latest + trend * h``. It warns where that line reaches a level
within the horizon, so a gauge rising 0.3 m an hour and 0.6 m below its warning level is
warned two hours ahead. It is the bar a warning model has to clear: MAE rewards following the
water, and persistence (the forecasting baseline) never warns before the water is there, but
this rule does.

Its quantiles all equal the straight line (a rule has no spread), so its exceedance
probabilities are 0 or 1 and the warning engine reads it exactly as it reads a model.
``one_way`` (default on) holds a trend away from the warning's direction flat: a rule for
rising water extrapolates rises and does not forecast a recession below the current level
(for a ``below`` rule, a speed, it extrapolates falls only). The latest reading is the last
known one within ``window`` of the origin. Without a reading a ``window`` before it the trend
is taken as flat, and without any reading within ``window`` of the origin the forecast is the
series' training median (as the seasonal-naive baseline falls back): the rule forecasts every
row the model does, so both are scored on the same rows.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Self

import numpy as np
import polars as pl

from features import SIGNALS, ConfigError, Duration, FeatureSpec, TargetHistory, TaskConfig
from models.protocol import FORECAST_KEYS, require_fitted, require_history, training_rows
from models.quantiles import quantile_column


class RateOfRiseForecaster:
    family = "rate_of_rise"

    def __init__(
        self,
        *,
        task: TaskConfig,
        spec: FeatureSpec,
        window: str | timedelta = "1h",
        one_way: bool = True,
    ) -> None:
        span = window if isinstance(window, timedelta) else Duration(window, key="params.window")
        if span < task.step or span % task.step:
            raise ConfigError(
                f"rate_of_rise window {window} must be a whole number (>= 1) of the task's "
                f"step {task.frequency}",
                key="params.window",
            )
        self.task, self.spec = task, spec
        self.window = span
        self.one_way = bool(one_way)
        warning = task.warning
        self.sign = -1.0 if warning is not None and warning.direction == "below" else 1.0
        self.steps = int(span // task.step)
        # reads the last window and the reading before it
        self.history_span: timedelta = span * 2
        self.fitted_ = False
        self.fallback_ = pl.DataFrame(schema={"series_id": pl.String, "_fallback": pl.Float64})
        self.overall_ = 0.0

    def params(self) -> dict[str, Any]:
        return {"window": str(self.window), "one_way": self.one_way}

    def fit(self, frame: pl.DataFrame, history: TargetHistory | None = None) -> Self:
        """Nothing to learn but the fallback: a rule is set, not fitted."""
        require_history(history, self.family)
        rows = training_rows(frame)
        self.fallback_ = rows.group_by("series_id").agg(pl.col("y").median().alias("_fallback"))
        median = rows["y"].median()
        self.overall_ = float(median) if isinstance(median, int | float) else 0.0
        self.fitted_ = True
        return self

    def predict(self, frame: pl.DataFrame, history: TargetHistory | None = None) -> pl.DataFrame:
        require_fitted(self.fitted_, self.family)
        hist = require_history(history, self.family)
        keys = frame.select(FORECAST_KEYS)
        pairs = keys.select("series_id", "origin").unique(maintain_order=True)
        rows = hist.rows(pairs["series_id"])
        ends = hist.bins(pairs["origin"]).astype(np.int64)
        # the last 2 * steps + 1 readings up to each origin: the latest known reading within
        # `window`, and the reading `window` before that one
        span = 2 * self.steps + 1
        values = hist.windows(rows, ends, span)
        latest, latest_at = _last_known(values[:, self.steps :])
        latest_at = latest_at + self.steps
        before = values[np.arange(len(rows)), np.clip(latest_at - self.steps, 0, None)]
        trend = np.nan_to_num((latest - before) / (self.window / timedelta(hours=1)), nan=0.0)
        if self.one_way:
            trend = self.sign * np.maximum(self.sign * trend, 0.0)
        # the latest reading may be older than the origin: extrapolate from where it was read
        age_h = (span - 1 - latest_at) * (self.task.step / timedelta(hours=1))
        state = pairs.with_columns(
            pl.Series("_latest", latest, nan_to_null=True),
            pl.Series("_trend", trend, nan_to_null=True),
            pl.Series("_age_h", age_h.astype(np.float64)),
        )
        hours = pl.col("horizon").dt.total_seconds() / 3600.0 + pl.col("_age_h")
        point = pl.col("_latest") + pl.col("_trend") * hours
        sig = SIGNALS.get(self.task.target.signal)
        if sig is not None and sig.low is not None:
            point = pl.max_horizontal(point, pl.lit(sig.low))
        out = (
            keys.join(state, on=["series_id", "origin"], how="left", maintain_order="left")
            .join(self.fallback_, on="series_id", how="left", maintain_order="left")
            .with_columns(
                pl.coalesce("_latest", "_fallback", pl.lit(self.overall_)).alias("_latest"),
                pl.col("_age_h").fill_null(0.0),
            )
        )
        qcols = [quantile_column(q) for q in self.task.quantiles]
        return out.with_columns(point.alias("yhat")).select(
            *FORECAST_KEYS,
            pl.lit(self.family).alias("model"),
            "yhat",
            *(pl.col("yhat").alias(c) for c in qcols),
        )


def _last_known(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the last finite value and its column (NaN and -1 where none is)."""
    known = np.isfinite(values)
    n = values.shape[1]
    last = n - 1 - np.argmax(known[:, ::-1], axis=1)
    has = known.any(axis=1)
    picked = values[np.arange(values.shape[0]), last]
    return np.where(has, picked, np.nan), np.where(has, last, -1)
