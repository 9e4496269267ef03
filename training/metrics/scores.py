"""Tables of named metrics: per horizon (:func:`by_horizon`) and the headline
:func:`score_table` of one model.

A metric named in :data:`HORIZON_METRICS` is one Polars aggregation (:func:`_metric_expr`)
mixing the point and quantile families, so that a table computes all of them over the same
scored rows in one pass, and a number here equals the single metric of the same name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import polars as pl

from models import quantile_column
from training.metrics.point import _with_scale
from training.metrics.prediction_frame import _scored
from training.metrics.quantile import _pinball_row, _qcols, pit_coverage

#: the metric names :func:`by_horizon` understands
HORIZON_METRICS = ("mae", "rmse", "bias", "mase", "pinball", "crps", "coverage_80")


def _metric_expr(name: str, *, column: str, quantiles: Sequence[float] | None) -> pl.Expr:
    y, f = pl.col("y").cast(pl.Float64), pl.col(column).cast(pl.Float64)
    if name == "mae":
        expr = (y - f).abs().mean()
    elif name == "rmse":
        expr = ((y - f) ** 2).mean().sqrt()
    elif name == "bias":
        expr = (f - y).mean()
    elif name == "mase":
        expr = ((y - f).abs() / pl.col("_scale")).mean()
    elif name in ("pinball", "crps"):
        if quantiles is None:
            raise ValueError(f"{name} needs the quantile levels")
        expr = _pinball_row(quantiles).mean() * (2.0 if name == "crps" else 1.0)
    elif name == "coverage_80":
        expr = ((y >= pl.col(quantile_column(0.1))) & (y <= pl.col(quantile_column(0.9)))).mean()
    else:
        raise ValueError(f"unknown metric {name!r}; known: {', '.join(HORIZON_METRICS)}")
    return expr.cast(pl.Float64).alias(name)


def _metric_columns(
    names: Sequence[str], *, column: str, quantiles: Sequence[float] | None
) -> list[str]:
    cols: list[str] = []
    for name in names:
        if name in ("mae", "rmse", "bias", "mase"):
            cols.append(column)
        elif name in ("pinball", "crps") and quantiles is not None:
            cols.extend(_qcols(quantiles))
        elif name == "coverage_80":
            cols.extend([quantile_column(0.1), quantile_column(0.9)])
    return list(dict.fromkeys(cols))


def by_horizon(
    preds: pl.DataFrame,
    metrics: Sequence[str] = ("mae", "rmse"),
    *,
    column: str = "yhat",
    quantiles: Sequence[float] | None = None,
    season_scale: float | Mapping[str, float] | None = None,
    masked: bool = False,
) -> pl.DataFrame:
    """``horizon, <metrics...>, n`` per horizon, sorted by horizon, over scored rows.

    Metric names (see :data:`HORIZON_METRICS`): ``mae``, ``rmse``, ``bias`` (mean of
    ``yhat - y``: positive means over-forecast), ``mase`` (needs ``season_scale``),
    ``pinball`` and ``crps`` (need ``quantiles``), ``coverage_80`` (share of ``y`` in
    ``[q10, q90]``). ``n`` counts the scored rows of each horizon; horizons without any are
    absent. ``masked=True`` scores only non-zero readings (see :func:`masked_mae`).
    """
    names = list(metrics)
    for name in names:
        if name not in HORIZON_METRICS:
            raise ValueError(f"unknown metric {name!r}; known: {', '.join(HORIZON_METRICS)}")
    if "mase" in names and season_scale is None:
        raise ValueError("mase needs season_scale (see mase_scale)")
    exprs = [_metric_expr(n, column=column, quantiles=quantiles) for n in names]
    if "horizon" not in preds.columns:
        raise ValueError("prediction frame lacks column 'horizon'")
    rows = _scored(preds, _metric_columns(names, column=column, quantiles=quantiles), masked=masked)
    if season_scale is not None and "mase" in names:
        rows = _with_scale(rows, season_scale)
    return rows.group_by("horizon").agg(*exprs, pl.len().alias("n")).sort("horizon")


def mae_by_horizon(preds: pl.DataFrame, *, column: str = "yhat") -> pl.DataFrame:
    """``horizon, mae, n`` over rows with an observed target."""
    return by_horizon(preds, ("mae",), column=column)


def score_table(
    preds: pl.DataFrame,
    quantiles: Sequence[float],
    *,
    season_scale: float | Mapping[str, float] | None = None,
    masked: bool = False,
    column: str = "yhat",
    lower_bound: float | None = None,
    seed: int = 0,
    discrete: bool = False,
) -> dict[str, float]:
    """The headline metrics of one model's predictions, all on the same scored rows:
    ``n, mae, rmse, [mase], pinball, crps, coverage_80, pit_coverage_80``.

    ``mase`` only with ``season_scale`` (see :func:`mase_scale`). ``masked=True`` drops zero
    readings from every metric (traffic; see :func:`masked_mae`). ``lower_bound`` (0 for
    non-negative targets) and ``seed`` go to :func:`pit_coverage`. ``quantiles`` must include
    0.1 and 0.9 (the coverage interval). A frame holding several models raises; filter first.
    Values are ``nan`` (``n`` 0) when nothing is scored.
    """
    if "model" in preds.columns and preds["model"].n_unique() > 1:
        raise ValueError("score_table scores one model: filter the frame by model first")
    names = ["mae", "rmse", *(["mase"] if season_scale is not None else []), "pinball", "crps"]
    names.append("coverage_80")
    rows = _scored(
        preds,
        [column, *_qcols(quantiles), quantile_column(0.1), quantile_column(0.9)],
        masked=masked,
    )
    if season_scale is not None:
        rows = _with_scale(rows, season_scale)
    out: dict[str, float] = {"n": rows.height}
    if rows.is_empty():
        out.update({name: float("nan") for name in names})
        out["pit_coverage_80"] = float("nan")
        return out
    values = rows.select(_metric_expr(n, column=column, quantiles=quantiles) for n in names)
    out.update({k: float(v) for k, v in values.row(0, named=True).items()})
    out["pit_coverage_80"] = pit_coverage(
        rows, quantiles, 0.1, 0.9, lower_bound=lower_bound, seed=seed, discrete=discrete
    )
    return out
