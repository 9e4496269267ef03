"""Point-forecast errors: MAE, RMSE, masked MAE, and MASE with its in-sample scale.

Each reads ``y`` against one forecast column (``yhat`` by default) over the scored rows of a
prediction frame (see :mod:`training.metrics.prediction_frame`), pooled with equal weight over
series, origins and horizons. The MASE scale lives here too, with the check that makes it
usable, because :mod:`training.metrics.scores` attaches the same scale to its tables.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import polars as pl

from training.metrics.prediction_frame import _scalar, _scored


def mae(preds: pl.DataFrame, *, column: str = "yhat") -> float:
    """Mean absolute error ``mean |y - yhat|`` over scored rows (``nan`` when none)."""
    rows = _scored(preds, [column])
    return _scalar(rows, (pl.col("y") - pl.col(column)).abs().mean())


def rmse(preds: pl.DataFrame, *, column: str = "yhat") -> float:
    """Root mean squared error ``sqrt(mean (y - yhat)^2)`` over scored rows (``nan`` when none).

    It weighs large misses (the storm peaks) more than MAE does; ``rmse >= mae`` always."""
    rows = _scored(preds, [column])
    return _scalar(rows, ((pl.col("y") - pl.col(column)) ** 2).mean().sqrt())


def masked_mae(preds: pl.DataFrame, *, column: str = "yhat", null_value: float = 0.0) -> float:
    """MAE over rows whose reading is neither missing nor exactly ``null_value`` (0).

    This is the "masked MAE" of the traffic-forecasting literature (DCRNN, Graph WaveNet on
    METR-LA / PEMS-BAY), where a speed of exactly 0 marks a failed sensor rather than a jam.
    The mask is on the *observed* value only, and the mean is pooled over all kept rows (DCRNN
    normalises its mask per batch, which differs only in weighting between batches). Per
    horizon: ``by_horizon(preds, ("mae",), masked=True)``.

    Do not use it for ponding, rain or counts, where 0 is a real and common reading: masking
    it would drop every dry hour from the score.
    """
    rows = _scored(preds, [column], masked=True, null_value=null_value)
    return _scalar(rows, (pl.col("y") - pl.col(column)).abs().mean())


def mase_scale(
    values: np.ndarray, season_steps: int, *, per_series: bool = False
) -> float | np.ndarray:
    """In-sample MAE of the seasonal-naive forecast ``y[t] = y[t - season_steps]``: the
    denominator of :func:`mase` (Hyndman & Koehler 2006).

    Args:
        values: the *training* history only (series x time on a regular grid, ``NaN`` =
            missing; a 1-D array is one series). Using the evaluated period here would leak it
            into the scale.
        season_steps: the season in grid steps (144 for a day at 10 min; 1 gives the naive
            random-walk scale).
        per_series: return one scale per row of ``values`` instead of one pooled scale.

    A pair ``(y[t], y[t - m])`` counts only when both are finite. The pooled scale is the mean
    over every valid pair of every series (series with longer histories weigh more); a series
    (or the pool) without a valid pair gets ``nan``. A constant history gives 0, which
    :func:`mase` refuses: prefer the pooled scale for zero-inflated targets such as ponding,
    where a sensor that never flooded in training has a per-series scale of 0.
    """
    arr = np.asarray(values, dtype=float)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ValueError("values must be a 2-D array (series x time)")
    m = int(season_steps)
    if m < 1:
        raise ValueError("season_steps must be at least 1")
    if m >= arr.shape[1]:
        diffs = np.full((arr.shape[0], 0), np.nan)
    else:
        diffs = np.abs(arr[:, m:] - arr[:, :-m])
    valid = np.isfinite(diffs)
    if per_series:
        counts = valid.sum(axis=1)
        sums = np.where(valid, diffs, 0.0).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return float(diffs[valid].mean()) if valid.any() else float("nan")


def _with_scale(rows: pl.DataFrame, scale: float | Mapping[str, float]) -> pl.DataFrame:
    """Attach ``_scale`` (the MASE denominator) to each row, checking it is usable."""
    if isinstance(scale, Mapping):
        bad = {k: v for k, v in scale.items() if not (math.isfinite(v) and v > 0)}
        if bad:
            raise ValueError(f"MASE scale must be finite and positive; got {bad}")
        table = pl.DataFrame(
            {"series_id": list(scale.keys()), "_scale": [float(v) for v in scale.values()]},
            schema={"series_id": pl.String, "_scale": pl.Float64},
        )
        joined = rows.join(table, on="series_id", how="left")
        unknown = joined.filter(pl.col("_scale").is_null())["series_id"].unique().to_list()
        if unknown:
            raise ValueError(f"no MASE scale for series {sorted(unknown)}")
        return joined
    value = float(scale)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"MASE scale must be finite and positive; got {value}")
    return rows.with_columns(pl.lit(value).alias("_scale"))


def mase(preds: pl.DataFrame, scale: float | Mapping[str, float], *, column: str = "yhat") -> float:
    """Mean absolute scaled error: the mean over scored rows of ``|y - yhat| / scale``.

    ``scale`` is :func:`mase_scale` of the training history: one pooled float, or a mapping
    ``series_id -> scale`` (e.g. ``dict(zip(ids, mase_scale(v, m, per_series=True)))``). With a
    single scale this is simply ``mae / scale``. Below 1 the model beats the in-sample
    seasonal-naive forecast on average. A scale that is 0, negative or not finite, or a series
    missing from the mapping, raises :class:`ValueError`.
    """
    rows = _with_scale(_scored(preds, [column]), scale)
    return _scalar(rows, ((pl.col("y") - pl.col(column)).abs() / pl.col("_scale")).mean())
