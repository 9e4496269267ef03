"""Quantile columns and the one function that turns them into exceedance probabilities."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from features import SIGNALS, TaskConfig

# A count forecast's CDF at the whole number k is read at k + 1/2 (the continuity correction): its
# quantiles are whole numbers, and the reading at a quantile itself gives the bottom of the range
# the quantiles allow (see training.metrics.quantile._pit_bounds)
COUNT_CONTINUITY = 0.5


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
    vals = forecast.select([quantile_column(q) for q in quantiles]).to_numpy().astype(float)
    cdf = cdf_at(vals, np.full(vals.shape[0], float(threshold)), quantiles)
    return cdf if below else 1.0 - cdf


def cdf_at(values: np.ndarray, x: np.ndarray, quantiles: Sequence[float]) -> np.ndarray:
    """The forecast CDF of each row of ``values`` (rows x quantile levels) at that row's ``x``,
    read as :func:`exceedance_probability` reads it; a matrix in, so calibration and the PIT can
    read many thresholds without building frames."""
    qs = np.asarray(quantiles, dtype=float)
    vals = np.maximum.accumulate(np.asarray(values, dtype=float), axis=1)
    x = np.asarray(x, dtype=float)
    n, k = vals.shape
    cdf = np.empty(n)
    # number of quantile values <= x, per row
    idx = (vals <= x[:, None]).sum(axis=1)
    below_all = idx == 0
    above_all = idx == k
    inside = ~(below_all | above_all)
    eps = 1e-9
    if below_all.any():
        spread = np.maximum(vals[below_all, 1] - vals[below_all, 0], eps) if k > 1 else 1.0
        cdf[below_all] = qs[0] * np.exp(-(vals[below_all, 0] - x[below_all]) / spread)
    if above_all.any():
        spread = np.maximum(vals[above_all, -1] - vals[above_all, -2], eps) if k > 1 else 1.0
        cdf[above_all] = 1.0 - (1.0 - qs[-1]) * np.exp(
            -(x[above_all] - vals[above_all, -1]) / spread
        )
    if inside.any():
        j = idx[inside]
        rows = np.nonzero(inside)[0]
        lo_v, hi_v = vals[rows, j - 1], vals[rows, j]
        lo_q, hi_q = qs[j - 1], qs[j]
        frac = (x[inside] - lo_v) / np.maximum(hi_v - lo_v, eps)
        cdf[inside] = lo_q + frac * (hi_q - lo_q)
    return np.clip(cdf, 0.0, 1.0)


def event_probability(
    forecast: pl.DataFrame, task: TaskConfig, threshold: float | np.ndarray
) -> np.ndarray:
    """The probability of the task's warning event at ``threshold`` (one value, or one per row,
    NaN where a row has none): ``P(Y >= threshold)``, or ``P(Y < threshold)`` for a ``below``
    rule such as traffic speed, matching how the backtest counts an observed event. For a
    continuous target the two bounds read the same; for counts ``P(Y >= k) = 1 - F(k - 1)``
    and ``P(Y < k) = F(k - 1)``, with ``F`` read with the continuity correction, i.e. at
    ``k - 1/2``. A NaN threshold gives a NaN probability."""
    below = task.warning is not None and task.warning.direction == "below"
    sig = SIGNALS.get(task.target.signal)
    at = np.asarray(threshold, dtype=float)
    if sig is not None and sig.discrete:
        at = at - 1.0 + COUNT_CONTINUITY
    values = forecast.select([quantile_column(q) for q in task.quantiles]).to_numpy()
    cdf = cdf_at(values.astype(float), np.broadcast_to(at, (forecast.height,)), task.quantiles)
    return cdf if below else 1.0 - cdf


def with_exceedance(
    forecast: pl.DataFrame, task: TaskConfig, thresholds: pl.DataFrame
) -> pl.DataFrame:
    """Add each level's threshold ``t_<level>`` (from ``thresholds``, keyed by ``series_id,
    origin, ts``: ``features.warning_thresholds``) and its event probability ``p_<level>``
    (:func:`event_probability`), null where the level does not apply to a row."""
    if task.warning is None:
        return forecast
    names = [lv.level for lv in task.warning.levels]
    tcols = [f"t_{name}" for name in names]
    keyed = forecast.drop([c for c in tcols if c in forecast.columns]).join(
        thresholds.select("series_id", "origin", "ts", *tcols),
        on=["series_id", "origin", "ts"],
        how="left",
        maintain_order="left",
    )
    return keyed.with_columns(
        pl.Series(
            f"p_{name}",
            event_probability(keyed, task, keyed[col].cast(pl.Float64).to_numpy()),
            nan_to_null=True,
        )
        for name, col in zip(names, tcols, strict=True)
    )


def cdf_bounds(
    values: np.ndarray,
    y: np.ndarray,
    quantiles: Sequence[float],
    *,
    lower_bound: float | None = None,
    discrete: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """``F(y-)`` and ``F(y)`` per row of ``values`` (rows x quantile levels), ``F`` read by
    :func:`cdf_at`: the interval a randomised PIT draws from (see
    ``training.metrics.quantile._pit_bounds`` for the reading of counts and of ``lower_bound``)."""
    if discrete:
        upper = cdf_at(values, y + COUNT_CONTINUITY, quantiles)
        lower = cdf_at(values, y - 1.0 + COUNT_CONTINUITY, quantiles)
    else:
        upper = cdf_at(values, y, quantiles)
        lower = cdf_at(values, np.nextafter(y, -np.inf), quantiles)
    if lower_bound is not None:
        lower = np.where(y <= lower_bound, 0.0, lower)
        upper = np.where(y < lower_bound, 0.0, upper)
    return np.minimum(lower, upper), upper
