"""The accuracy benchmark's scores: on the rows every model forecast, per model and horizon."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
from accuracy_data import KEYS, LEVEL

# TODO(lead): training/metrics.py is gaining rmse, masked_mae, nse, kge and coverage in a
# parallel change; swap these for its functions once they land (same definitions).


def _rmse(err: np.ndarray) -> float:
    return float(np.sqrt(np.mean(err**2))) if err.size else math.nan


def nse(y: np.ndarray, yhat: np.ndarray) -> float:
    """Nash-Sutcliffe efficiency: 1 - SSE / variance of the observations around their mean."""
    denom = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - float(np.sum((y - yhat) ** 2)) / denom if denom > 0 else math.nan


def kge(y: np.ndarray, yhat: np.ndarray) -> float:
    """Kling-Gupta efficiency (Gupta et al. 2009): correlation, variability and bias ratios."""
    if y.size < 2 or y.std() == 0 or y.mean() == 0 or yhat.std() == 0:
        return math.nan
    r = float(np.corrcoef(y, yhat)[0, 1])
    alpha, beta = yhat.std() / y.std(), yhat.mean() / y.mean()
    return 1.0 - math.sqrt((r - 1) ** 2 + (alpha - 1) ** 2 + (beta - 1) ** 2)


def common_rows(preds: pl.DataFrame, models: list[str], mask_zeros: bool) -> pl.DataFrame:
    """Rows every model forecast (finite) whose target was observed (and non-zero if masked)."""
    observed = preds.filter(pl.col("model") == models[0]).select(*KEYS, "y")
    observed = observed.filter(pl.col("y").is_not_null() & pl.col("y").is_finite())
    if mask_zeros:
        observed = observed.filter(pl.col("y") != 0)
    keys = observed.select(KEYS)
    for model in models:
        have = preds.filter((pl.col("model") == model) & pl.col("yhat").is_finite()).select(KEYS)
        keys = keys.join(have, on=KEYS, how="semi")
    return (
        preds.drop("y")
        .join(keys, on=KEYS, how="semi")
        .join(observed, on=KEYS, how="left")
        .filter(pl.col("model").is_in(models))
    )


def score(rows: pl.DataFrame, *, streamflow: bool) -> pl.DataFrame:
    """``model, horizon, metric, value`` for each model and horizon."""
    out = []
    for (model, horizon), g in rows.group_by("model", "horizon"):
        y, yhat = g["y"].to_numpy(), g["yhat"].to_numpy()
        err = y - yhat
        vals = {"MAE": float(np.abs(err).mean()), "RMSE": _rmse(err)}
        if g["q10"].null_count() == 0:
            inside = (g["y"] >= g["q10"]) & (g["y"] <= g["q90"])
            vals[f"{LEVEL}% coverage"] = float(inside.mean())
        if streamflow:
            per = [
                (
                    nse(s["y"].to_numpy(), s["yhat"].to_numpy()),
                    kge(s["y"].to_numpy(), s["yhat"].to_numpy()),
                )
                for _, s in g.group_by("series_id")
            ]
            vals["NSE (median)"] = float(np.nanmedian([p[0] for p in per]))
            vals["KGE (median)"] = float(np.nanmedian([p[1] for p in per]))
        out += [(model, horizon, k, v) for k, v in vals.items()]
    return pl.DataFrame(out, schema=["model", "horizon", "metric", "value"], orient="row").sort(
        "horizon", "model"
    )
