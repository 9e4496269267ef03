"""Quantile columns and the one function that turns them into exceedance probabilities."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from features.tasks import TaskConfig


def quantile_column(q: float) -> str:
    """``0.1 -> "q10"``, ``0.05 -> "q05"``, ``0.975 -> "q97_5"``."""
    pct = round(q * 100, 3)
    whole = int(pct)
    if pct == whole:
        return f"q{whole:02d}"
    return f"q{whole:02d}_" + f"{pct - whole:.3f}".split(".")[1].rstrip("0")


def monotone(qcols: list[str]) -> list[pl.Expr]:
    """Sort quantiles within each row so that q10 <= q50 <= q90 always holds (quantile models
    fitted separately can cross)."""
    return [pl.concat_list(qcols).list.sort().list.get(i).alias(c) for i, c in enumerate(qcols)]


def exceedance_probability(
    forecast: pl.DataFrame, threshold: float, quantiles: Sequence[float], *, below: bool = False
) -> np.ndarray:
    """P(Y > threshold) per row (or P(Y < threshold) with ``below``) from the quantile columns.

    The quantile function is read as a piecewise-linear CDF through ``(value_i, q_i)``; beyond
    the outer quantiles the tails decay exponentially with the scale of the neighbouring
    spacing, so probabilities move smoothly with the threshold and stay within (0, 1).
    Values that tie (a zero-inflated target often has q05 = q10 = 0) count as the highest
    quantile at that value.
    """
    qs = np.asarray(quantiles, dtype=float)
    vals = forecast.select([quantile_column(q) for q in quantiles]).to_numpy().astype(float)
    vals = np.maximum.accumulate(vals, axis=1)
    x = float(threshold)
    n, k = vals.shape
    cdf = np.empty(n)
    # number of quantile values <= x, per row
    idx = (vals <= x).sum(axis=1)
    below_all = idx == 0
    above_all = idx == k
    inside = ~(below_all | above_all)
    eps = 1e-9
    if below_all.any():
        spread = np.maximum(vals[below_all, 1] - vals[below_all, 0], eps) if k > 1 else 1.0
        cdf[below_all] = qs[0] * np.exp(-(vals[below_all, 0] - x) / spread)
    if above_all.any():
        spread = np.maximum(vals[above_all, -1] - vals[above_all, -2], eps) if k > 1 else 1.0
        cdf[above_all] = 1.0 - (1.0 - qs[-1]) * np.exp(-(x - vals[above_all, -1]) / spread)
    if inside.any():
        j = idx[inside]
        rows = np.nonzero(inside)[0]
        lo_v, hi_v = vals[rows, j - 1], vals[rows, j]
        lo_q, hi_q = qs[j - 1], qs[j]
        frac = (x - lo_v) / np.maximum(hi_v - lo_v, eps)
        cdf[inside] = lo_q + frac * (hi_q - lo_q)
    cdf = np.clip(cdf, 0.0, 1.0)
    return cdf if below else 1.0 - cdf


def with_exceedance(forecast: pl.DataFrame, task: TaskConfig) -> pl.DataFrame:
    """Add ``p_<level>``: the exceedance probability of each of the task's warning thresholds
    (below the threshold for a ``below`` rule such as traffic speed)."""
    if task.warning is None:
        return forecast
    below = task.warning.direction == "below"
    return forecast.with_columns(
        pl.Series(
            f"p_{lv.level}",
            exceedance_probability(forecast, lv.threshold, task.quantiles, below=below),
        )
        for lv in task.warning.levels
    )
