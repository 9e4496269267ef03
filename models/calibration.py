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

Counts (``discrete``) are judged as the backtest judges them, by the randomised PIT for counts
(Czado, Gneiting & Held 2009): the count ``y`` has the forecast CDF's mass between ``y - 1``
and ``y`` (read with the continuity correction of ``training.metrics``), and a row's level at
quantile ``tau`` is the chance that a draw from that mass falls at or below ``tau``. With the
plain indicator ``y <= q`` an hourly count sitting on a whole-number quantile counts as covered
every time, so the plain 80 % interval of a too-narrow forecast can still hold ~90 % of
outcomes, and the fit would narrow it further.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Self

import numpy as np
import polars as pl

from features import SIGNALS, TargetHistory, TaskConfig
from models.protocol import Forecaster, history_covariates, history_span
from models.quantiles import cdf_bounds, monotone, quantile_column

_GRID = np.geomspace(0.2, 6.0, 121)
_MIN_ROWS = 30


def fit_scales(
    forecast: pl.DataFrame,
    quantiles: tuple[float, ...],
    *,
    discrete: bool = False,
    lower_bound: float | None = None,
) -> pl.DataFrame:
    """``horizon, column, scale, rows`` from forecasts joined to their outcome ``y``.

    The scale is the grid value whose empirical level is closest to the nominal one (ties go to
    the value closest to 1, i.e. the least change); with fewer than 30 informative rows the
    scale stays 1. ``discrete`` (count targets, censored at ``lower_bound``) judges the level by
    the count PIT (see the module docstring).
    """
    rows = forecast.filter(pl.col("y").is_not_null() & pl.col("y").is_finite())
    qcols = [quantile_column(q) for q in quantiles]
    # outward from the median: the count PIT's reading of an outer quantile leans on the
    # spacing to its (already fitted) inner neighbour
    order = sorted(
        (i for i, q in enumerate(quantiles) if q != 0.5), key=lambda i: abs(quantiles[i] - 0.5)
    )
    out: list[dict[str, Any]] = []
    for (horizon,), part in rows.group_by("horizon", maintain_order=True):
        y = part["y"].cast(pl.Float64).to_numpy()
        median = part["q50"].cast(pl.Float64).to_numpy()
        values = part.select(qcols).to_numpy().astype(np.float64)
        scales = np.ones(len(quantiles))
        for i in order:
            d = values[:, i] - median
            used = d != 0
            scale = 1.0
            if used.sum() >= _MIN_ROWS:
                if discrete:
                    pending = [
                        j
                        for j in order[order.index(i) :]
                        if (quantiles[j] < 0.5) == (quantiles[i] < 0.5)
                    ]
                    levels = _count_levels(
                        y[used], values[used], median[used], scales, pending, quantiles, lower_bound
                    )
                else:
                    levels = _levels(y[used], median[used], d[used])
                miss = np.abs(levels - quantiles[i])
                best = np.flatnonzero(miss <= miss.min() + 1e-12)
                scale = float(_GRID[best[np.argmin(np.abs(np.log(_GRID[best])))]])
            scales[i] = scale
            out.append(
                {"horizon": horizon, "column": qcols[i], "scale": scale, "rows": int(used.sum())}
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


def _levels(y: np.ndarray, median: np.ndarray, d: np.ndarray) -> np.ndarray:
    """The share of outcomes at or below ``median + s d`` for every ``s`` of the grid."""
    # y <= median + s d  <=>  r <= s (d > 0) or r >= s (d < 0), with r = (y - m) / d
    r = (y - median) / d
    above = d > 0
    return np.array([np.mean(np.where(above, r <= s, r >= s)) for s in _GRID], dtype=np.float64)


def _count_levels(
    y: np.ndarray,
    values: np.ndarray,
    median: np.ndarray,
    scales: np.ndarray,
    pending: list[int],
    quantiles: tuple[float, ...],
    lower_bound: float | None,
) -> np.ndarray:
    """The count PIT's level of quantile ``pending[0]`` for every ``s`` of the grid.

    The level is the mean over rows of ``P(U <= tau)`` with ``U`` uniform on
    ``[F(y - 1), F(y)]`` and ``F`` read by :func:`models.quantiles.cdf_at` (with the count
    continuity correction, as the backtest's PIT reads it) from the quantiles as they would be
    after scaling: the fitted inner ones at their scales, ``pending`` (this column and the
    unfitted ones beyond it on the same side) at ``s``.
    """
    tau = quantiles[pending[0]]
    spread = values - median[:, None]
    levels = np.empty(_GRID.size)
    for g, s in enumerate(_GRID):
        trial = scales.copy()
        trial[pending] = s
        scaled = median[:, None] + trial[None, :] * spread
        if lower_bound is not None:
            scaled = np.maximum(scaled, lower_bound)
        lower, upper = cdf_bounds(scaled, y, quantiles, lower_bound=lower_bound, discrete=True)
        width = upper - lower
        # a width of a few ulps overflows the division: the share is then 0 or 1, as clipped
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            share = np.where(
                width > 0,
                np.clip((tau - lower) / np.where(width > 0, width, 1.0), 0.0, 1.0),
                upper <= tau,
            )
        levels[g] = share.mean()
    return levels


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

    @property
    def history_covariates(self) -> tuple[str, ...]:
        return history_covariates(self.inner)

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
