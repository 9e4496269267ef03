"""Hydrological efficiencies: Nash-Sutcliffe (NSE) and Kling-Gupta (KGE), per series.

Unlike the pooled metrics, NSE and KGE are defined on one time series, so they are computed
per series at one horizon (:func:`efficiency_by_series`) and summarised by the median over
series (:func:`nse`, :func:`kge`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import cast

import polars as pl

from training.metrics.prediction_frame import _scored


def _one_horizon(preds: pl.DataFrame, horizon: timedelta | None) -> pl.DataFrame:
    if "horizon" not in preds.columns or "series_id" not in preds.columns:
        raise ValueError("NSE and KGE need series_id and horizon columns")
    if horizon is not None:
        return preds.filter(pl.col("horizon") == horizon)
    if preds["horizon"].n_unique() > 1:
        raise ValueError(
            "NSE and KGE judge one horizon at a time: pass horizon= or filter the frame"
        )
    return preds


def efficiency_by_series(
    preds: pl.DataFrame, *, horizon: timedelta | None = None, column: str = "yhat"
) -> pl.DataFrame:
    """``series_id, n, nse, kge, r, alpha, beta`` per series, for point forecasts at one horizon.

    Each series is the time series of its scored rows at that horizon (``horizon=None``
    requires the frame to hold a single horizon).

    * Nash-Sutcliffe efficiency: ``NSE = 1 - sum (y - yhat)^2 / sum (y - mean y)^2``. 1 is a
      perfect forecast, 0 is no better than the series' own mean over the evaluated period,
      negative is worse. A series whose observations are constant has no NSE (``nan``).
    * Kling-Gupta efficiency, 2009 form (Gupta et al. 2009):
      ``KGE = 1 - sqrt((r - 1)^2 + (alpha - 1)^2 + (beta - 1)^2)`` with ``r`` the Pearson
      correlation, ``alpha = sd(yhat) / sd(y)`` (population standard deviations) and
      ``beta = mean(yhat) / mean(y)``. It is ``nan`` when the observations are constant or
      their mean is 0 (``beta`` is then undefined: KGE is a poor fit for targets whose mean is
      near 0, such as ponding at a dry sensor or a level relative to a datum). A constant
      forecast of a varying series gets ``r = 0`` (Knoben et al. 2019), so the mean forecast
      scores ``1 - sqrt(2)``, not ``nan``; ``r`` is clipped to ``[-1, 1]`` against rounding.
    """
    rows = _scored(_one_horizon(preds, horizon), [column])
    y, f = pl.col("y").cast(pl.Float64), pl.col(column).cast(pl.Float64)
    stats = rows.group_by("series_id").agg(
        pl.len().alias("n"),
        ((y - f) ** 2).sum().alias("_sse"),
        ((y - y.mean()) ** 2).sum().alias("_sst"),
        y.mean().alias("_my"),
        f.mean().alias("_mf"),
        y.std(ddof=0).alias("_sy"),
        f.std(ddof=0).alias("_sf"),
        ((y - y.mean()) * (f - f.mean())).mean().alias("_cov"),
        (y.max() > y.min()).alias("_y_varies"),
        (f.max() > f.min()).alias("_f_varies"),
    )
    nan = pl.lit(float("nan"))
    y_varies, f_varies = pl.col("_y_varies"), pl.col("_f_varies")
    stats = stats.with_columns(
        pl.when(y_varies & (pl.col("_sst") > 0))
        .then(1.0 - pl.col("_sse") / pl.col("_sst"))
        .otherwise(nan)
        .alias("nse"),
        pl.when(y_varies & f_varies)
        .then((pl.col("_cov") / (pl.col("_sy") * pl.col("_sf"))).clip(-1.0, 1.0))
        .when(y_varies)
        .then(0.0)
        .otherwise(nan)
        .alias("r"),
        pl.when(y_varies).then(pl.col("_sf") / pl.col("_sy")).otherwise(nan).alias("alpha"),
        pl.when(pl.col("_my") != 0)
        .then(pl.col("_mf") / pl.col("_my"))
        .otherwise(nan)
        .alias("beta"),
    )
    stats = stats.with_columns(
        (
            1.0
            - (
                (pl.col("r") - 1.0) ** 2
                + (pl.col("alpha") - 1.0) ** 2
                + (pl.col("beta") - 1.0) ** 2
            ).sqrt()
        ).alias("kge")
    )
    return stats.select(
        "series_id",
        pl.col("n").cast(pl.Int64),
        *(pl.col(c).cast(pl.Float64) for c in ("nse", "kge", "r", "alpha", "beta")),
    ).sort("series_id")


def _median_over_series(values: pl.Series) -> float:
    kept = values.drop_nulls().drop_nans()
    # the median of a Float64 series is a float (polars types it as any literal)
    return float(cast(float, kept.median())) if kept.len() else float("nan")


def nse(preds: pl.DataFrame, *, horizon: timedelta | None = None, column: str = "yhat") -> float:
    """Median over series of the Nash-Sutcliffe efficiency at one horizon (series without an
    NSE are left out; ``nan`` when none has one). See :func:`efficiency_by_series`."""
    return _median_over_series(efficiency_by_series(preds, horizon=horizon, column=column)["nse"])


def kge(preds: pl.DataFrame, *, horizon: timedelta | None = None, column: str = "yhat") -> float:
    """Median over series of the Kling-Gupta efficiency (2009) at one horizon (series without
    a KGE are left out; ``nan`` when none has one). Components per series:
    :func:`efficiency_by_series`."""
    return _median_over_series(efficiency_by_series(preds, horizon=horizon, column=column)["kge"])
