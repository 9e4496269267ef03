"""Quantile recalibration: stretch or shrink each quantile's distance from the median.

A quantile model's 80 % interval is often too narrow (LightGBM's quantile objective on few
storms) or too wide (a sequence model trained briefly). Given out-of-sample forecasts with their
outcomes (a held-out tail of the training window), ``fit_scales`` finds per horizon and quantile
a factor ``s`` so that ``q50 + s (q - q50)`` has its nominal level there: the share of outcomes
at or below it equals the quantile. Scaling about the median keeps a point mass a point mass (a
dry sensor forecast at exactly 0 cm stays exactly 0), which an additive shift would not; rows
whose quantile equals the median carry no information about the scale and are left out of the
fit. ``CalibratedForecaster`` wraps any family with its scales, so calibration is one step for
every model.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Self

import numpy as np
import polars as pl

from features.history import TargetHistory
from features.schemas import SIGNALS
from features.tasks import TaskConfig
from models.protocol import Forecaster, history_span
from models.quantiles import monotone, quantile_column

_GRID = np.geomspace(0.2, 6.0, 121)
_MIN_ROWS = 30


def fit_scales(forecast: pl.DataFrame, quantiles: tuple[float, ...]) -> pl.DataFrame:
    """``horizon, column, scale, rows`` from forecasts joined to their outcome ``y``.

    The scale is the grid value whose empirical level is closest to the nominal one (ties go to
    the value closest to 1, i.e. the least change); with fewer than 30 informative rows the
    scale stays 1.
    """
    rows = forecast.filter(pl.col("y").is_not_null() & pl.col("y").is_finite())
    out: list[dict[str, Any]] = []
    for (horizon,), part in rows.group_by("horizon", maintain_order=True):
        y = part["y"].to_numpy()
        median = part["q50"].to_numpy()
        for q in quantiles:
            column = quantile_column(q)
            if q == 0.5:
                continue
            d = part[column].to_numpy() - median
            used = d != 0
            scale = 1.0
            if used.sum() >= _MIN_ROWS:
                # y <= median + s d  <=>  r <= s (d > 0) or r >= s (d < 0), with r = (y - m) / d
                r = (y[used] - median[used]) / d[used]
                above = d[used] > 0
                levels = np.array(
                    [np.mean(np.where(above, r <= s, r >= s)) for s in _GRID], dtype=np.float64
                )
                miss = np.abs(levels - q)
                best = np.flatnonzero(miss <= miss.min() + 1e-12)
                scale = float(_GRID[best[np.argmin(np.abs(np.log(_GRID[best])))]])
            out.append(
                {"horizon": horizon, "column": column, "scale": scale, "rows": int(used.sum())}
            )
    return pl.DataFrame(
        out,
        schema={
            "horizon": pl.Duration("us"),
            "column": pl.String,
            "scale": pl.Float64,
            "rows": pl.Int64,
        },
    )


def apply_scales(forecast: pl.DataFrame, scales: pl.DataFrame, task: TaskConfig) -> pl.DataFrame:
    """The forecast with each quantile moved to ``q50 + scale (q - q50)``, floored at the
    signal's physical low and re-sorted."""
    qcols = [quantile_column(q) for q in task.quantiles]
    wide = scales.pivot(on="column", index="horizon", values="scale")
    renamed = wide.rename({c: f"_s_{c}" for c in wide.columns if c != "horizon"})
    joined = forecast.join(renamed, on="horizon", how="left", maintain_order="left")
    sig = SIGNALS.get(task.target.signal)
    exprs = []
    for c in qcols:
        if f"_s_{c}" not in joined.columns:
            continue
        value = pl.col("q50") + pl.col(f"_s_{c}").fill_null(1.0) * (pl.col(c) - pl.col("q50"))
        if sig is not None:
            value = value.clip(sig.low, sig.high)
        exprs.append(value.alias(c))
    return joined.with_columns(exprs).with_columns(monotone(qcols)).select(forecast.columns)


class CalibratedForecaster:
    """A fitted forecaster and its quantile scales; predicts like the inner one, recalibrated."""

    def __init__(self, inner: Forecaster, scales: pl.DataFrame) -> None:
        self.inner, self.scales = inner, scales
        self.family = inner.family
        self.task, self.spec = inner.task, inner.spec

    @property
    def history_span(self) -> timedelta | None:
        return history_span(self.inner)

    def params(self) -> dict[str, Any]:
        return self.inner.params()

    def fit(self, frame: pl.DataFrame, history: TargetHistory | None = None) -> Self:
        self.inner.fit(frame, history)
        return self

    def predict(self, frame: pl.DataFrame, history: TargetHistory | None = None) -> pl.DataFrame:
        return apply_scales(self.inner.predict(frame, history), self.scales, self.task)

    def __getattr__(self, name: str) -> Any:
        # feature_importance and other family extras pass through
        if name in ("inner", "scales"):
            raise AttributeError(name)
        return getattr(self.inner, name)
