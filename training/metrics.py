"""Forecast metrics, one module used everywhere (backtest, tuning, promotion, benchmarks).

Every metric here reads a *prediction frame*: a Polars frame with ``series_id, origin, ts,
horizon, model, yhat``, one column per quantile level named by
:func:`models.quantiles.quantile_column` (``0.1 -> "q10"``), and the observed target ``y``.

Conventions shared by every function (so that two callers never score the same rows
differently):

* **Which rows are scored.** A row is scored when its target is observed: ``y`` is neither null
  nor NaN. Unobserved rows are dropped silently; they say nothing about the forecast. With
  ``masked=True`` (traffic convention, see :func:`masked_mae`) rows with ``y == 0`` are dropped
  too.
* **Missing forecasts are errors.** A null or NaN forecast column (``yhat`` or a quantile) on a
  scored row raises :class:`ValueError`: it is a model failure, and quietly skipping it would
  score a model on the easy rows only.
* **Nothing to score** gives ``nan`` (and an empty table for per-horizon functions), never an
  error, so a backtest fold without observations does not stop a run.
* **Pooling.** Scalar metrics pool every scored row (all series, origins and horizons) with
  equal weight; per-horizon and per-series tables group first. NSE and KGE are the exception:
  they are defined on one time series, so they are computed per series at one horizon and
  summarised by the median over series.

Families:

* point: :func:`mae`, :func:`rmse`, :func:`mase` (with :func:`mase_scale`), :func:`masked_mae`,
  :func:`by_horizon` / :func:`mae_by_horizon`, :func:`nse`, :func:`kge`,
  :func:`efficiency_by_series`;
* probabilistic: :func:`pinball_loss`, :func:`crps_from_quantiles`, :func:`interval_coverage`,
  :func:`pit_values`, :func:`pit_coverage`;
* probability of an event: :func:`brier_score`, :func:`brier_skill`, :func:`reliability_table`;
* events: a threshold crossing (ponding >= 5 cm) judged two ways, per forecast (a
  :func:`contingency` table over every origin and horizon: probability of detection, false
  alarm ratio, critical success index) and per event (each episode of observed exceedance: was
  it forecast in advance, and how long before its onset), in :func:`event_skill`;
* :func:`score_table`: the headline numbers of one model in one call.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import polars as pl

from models import cdf_bounds, quantile_column

#: the metric names :func:`by_horizon` understands
HORIZON_METRICS = ("mae", "rmse", "bias", "mase", "pinball", "crps", "coverage_80")

# The largest float below zero: reading the CDF there gives its left limit at 0 (see _pit_bounds).


# --------------------------------------------------------------------------------------------
# scored rows


def _observed(
    preds: pl.DataFrame, *, masked: bool = False, null_value: float = 0.0
) -> pl.DataFrame:
    """Rows whose target is observed (``y`` not null, not NaN; and ``y != null_value`` when
    ``masked``)."""
    y = pl.col("y").cast(pl.Float64)
    keep = y.is_not_null() & y.is_not_nan()
    if masked:
        keep = keep & (y != null_value)
    return preds.filter(keep)


def _scored(
    preds: pl.DataFrame,
    columns: Sequence[str],
    *,
    masked: bool = False,
    null_value: float = 0.0,
) -> pl.DataFrame:
    """Observed rows, after checking that every forecast column in ``columns`` is present and
    neither null nor NaN on them."""
    missing = [c for c in ("y", *columns) if c not in preds.columns]
    if missing:
        raise ValueError(f"prediction frame lacks column(s) {missing}")
    rows = _observed(preds, masked=masked, null_value=null_value)
    if rows.is_empty() or not columns:
        return rows
    bad = rows.select(
        (pl.col(c).cast(pl.Float64).is_null() | pl.col(c).cast(pl.Float64).is_nan()).sum().alias(c)
        for c in dict.fromkeys(columns)
    ).row(0, named=True)
    failed = {c: n for c, n in bad.items() if n}
    if failed:
        raise ValueError(
            f"forecast missing (null or NaN) on rows with an observed target: {failed}; "
            "a missing forecast is a model failure, not a missing observation"
        )
    return rows


def _scalar(rows: pl.DataFrame, expr: pl.Expr) -> float:
    if rows.is_empty():
        return float("nan")
    value = rows.select(expr).item()
    return float("nan") if value is None else float(value)


def _qcols(quantiles: Sequence[float]) -> list[str]:
    if not len(quantiles):
        raise ValueError("at least one quantile level is needed")
    return [quantile_column(q) for q in quantiles]


def _pinball_row(quantiles: Sequence[float]) -> pl.Expr:
    """Per row: the mean over levels of the pinball loss ``rho_q(y - q_hat)``."""
    y = pl.col("y").cast(pl.Float64)
    losses = []
    for q in quantiles:
        u = y - pl.col(quantile_column(q)).cast(pl.Float64)
        losses.append(pl.max_horizontal(q * u, (q - 1.0) * u))
    return pl.sum_horizontal(losses) / len(quantiles)


# --------------------------------------------------------------------------------------------
# point metrics


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


# --------------------------------------------------------------------------------------------
# hydrological efficiencies (per series, one horizon)


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
    return float(kept.median()) if kept.len() else float("nan")


def nse(preds: pl.DataFrame, *, horizon: timedelta | None = None, column: str = "yhat") -> float:
    """Median over series of the Nash-Sutcliffe efficiency at one horizon (series without an
    NSE are left out; ``nan`` when none has one). See :func:`efficiency_by_series`."""
    return _median_over_series(efficiency_by_series(preds, horizon=horizon, column=column)["nse"])


def kge(preds: pl.DataFrame, *, horizon: timedelta | None = None, column: str = "yhat") -> float:
    """Median over series of the Kling-Gupta efficiency (2009) at one horizon (series without
    a KGE are left out; ``nan`` when none has one). Components per series:
    :func:`efficiency_by_series`."""
    return _median_over_series(efficiency_by_series(preds, horizon=horizon, column=column)["kge"])


# --------------------------------------------------------------------------------------------
# quantile forecasts


def pinball_loss(preds: pl.DataFrame, quantiles: Sequence[float], *, masked: bool = False) -> float:
    """Mean pinball (quantile) loss over scored rows and the given levels.

    For level ``q`` and forecast quantile ``x``: ``rho_q(y - x)`` with
    ``rho_q(u) = max(q u, (q - 1) u)``, i.e. ``q (y - x)`` when the quantile is too low and
    ``(1 - q)(x - y)`` when it is too high; then averaged over levels and rows (no factor 2:
    at ``q = 0.5`` it is half the absolute error of the median).
    """
    rows = _scored(preds, _qcols(quantiles), masked=masked)
    return _scalar(rows, _pinball_row(quantiles).mean())


def crps_from_quantiles(
    preds: pl.DataFrame, quantiles: Sequence[float], *, masked: bool = False
) -> float:
    """Continuous ranked probability score approximated from the quantile forecast:
    ``2 x`` :func:`pinball_loss` over the given levels.

    The CRPS of a forecast CDF ``F`` equals ``integral_0^1 2 rho_tau(y - F^-1(tau)) dtau``
    (Laio & Tamea 2007; Gneiting & Raftery 2007); the mean over levels replaces the integral.
    The approximation is close when the levels are many and evenly spread (e.g. 0.05 ... 0.95)
    and coarse with three levels (0.1, 0.5, 0.9), where it ignores the tails; compare models
    only on the same levels. In the units of ``y``; for a point forecast read as a step CDF
    (every level at ``yhat``) it reduces to the absolute error.
    """
    return 2.0 * pinball_loss(preds, quantiles, masked=masked)


def interval_coverage(preds: pl.DataFrame, low: str = "q10", high: str = "q90") -> float:
    """Share of observed targets inside the closed interval ``[low, high]`` (nominal 80 % for
    q10-q90).

    A target sitting on an interval bound counts as inside, so a zero-inflated target (ponding
    with ``q10 = 0`` on dry days) is covered every time it is 0: this inflates the coverage of
    such targets above nominal; :func:`pit_coverage` does not."""
    rows = _scored(preds, [low, high])
    inside = (pl.col("y") >= pl.col(low)) & (pl.col("y") <= pl.col(high))
    return _scalar(rows, inside.mean())


def _pit_bounds(
    rows: pl.DataFrame,
    quantiles: Sequence[float],
    lower_bound: float | None,
    discrete: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """``F(y-)`` and ``F(y)`` per row, with ``F`` the forecast CDF as
    :func:`models.quantiles.cdf_at` (and so ``exceedance_probability``) reads it from the
    quantile columns: at ``y`` and at the largest float below it (the left limit: tied
    quantiles give a jump there).

    With ``lower_bound`` (0 for ponding) the forecast is censored at the bound: the mass the
    reading puts below it sits on the bound, so ``F(y-) = 0`` for ``y <= lower_bound`` (and
    ``F(y) = 0`` too for an observation below the bound, which the forecast ruled out).

    With ``discrete`` (counts) ``F(y-)`` is the CDF at the count below, ``F(y - 1)``: the
    randomised PIT for count data of Czado, Gneiting & Held (2009), for which the method was
    made. A count forecast's quantiles are whole numbers, and the piecewise-linear reading at a
    whole number ``k = q_tau`` gives exactly ``tau``, the bottom of what the quantiles allow
    (``P(Y <= k)`` lies anywhere in ``[tau, next level)``): with ``q10 = 0, q50 = 1`` it says
    ``P(Y = 0) = 0.1`` where a Poisson(1.2) truth has 0.30, and a calibrated forecast then shows
    twice the nominal share below ``q10``. So the count's CDF is read with the continuity
    correction, ``F(k) = G(k + 1/2)``, each quantile standing for the middle of its unit cell.
    """
    values = rows.select(_qcols(quantiles)).to_numpy().astype(np.float64)
    obs = rows["y"].cast(pl.Float64).to_numpy()
    return cdf_bounds(values, obs, quantiles, lower_bound=lower_bound, discrete=discrete)


def pit_values(
    preds: pl.DataFrame,
    quantiles: Sequence[float],
    *,
    lower_bound: float | None = None,
    seed: int = 0,
    discrete: bool = False,
) -> np.ndarray:
    """Randomized probability integral transform of each scored row (in row order).

    ``U = F(y-) + V (F(y) - F(y-))`` with ``V ~ Uniform(0, 1)`` drawn from
    ``numpy.random.default_rng(seed)`` (one draw per scored row, in row order, so the result
    depends on row order). Where ``F`` is continuous at ``y`` this is just ``F(y)``; at a point
    mass (ponding of exactly 0 cm) it spreads the row over the mass. Under a calibrated
    forecast ``U`` is exactly Uniform(0, 1) (Czado, Gneiting & Held 2009), so its histogram is
    the calibration diagnostic. ``F`` and ``lower_bound`` as in :func:`pit_coverage`.
    """
    rows = _scored(preds, _qcols(quantiles))
    lower, upper = _pit_bounds(rows, quantiles, lower_bound, discrete)
    v = np.random.default_rng(seed).random(rows.height)
    return lower + v * (upper - lower)


def pit_coverage(
    preds: pl.DataFrame,
    quantiles: Sequence[float],
    low: float = 0.1,
    high: float = 0.9,
    *,
    lower_bound: float | None = None,
    seed: int = 0,
    randomize: bool = True,
    discrete: bool = False,
) -> float:
    """Coverage of the central ``[low, high]`` interval judged by the randomized PIT: the share
    of scored rows with ``low <= U <= high`` (see :func:`pit_values`).

    :func:`interval_coverage` counts a target on an interval bound as covered, so a dry sensor
    with ``q10 = q90 = 0`` and ``y = 0`` is covered always and a zero-inflated target reports
    more than nominal coverage even when its forecast is calibrated. Here that row is covered
    with probability ``(high - low) / P(mass)`` when the interval lies inside the mass
    (``0.8 / 0.9`` for three tied levels censored at 0, the reading putting ``F(0) = 0.9``),
    and the expected coverage under a calibrated forecast is exactly ``high - low``.

    ``F`` is the forecast CDF read from the quantile columns exactly as
    :func:`models.quantiles.exceedance_probability` reads it (piecewise linear between the
    quantiles, exponential tails, tied values a jump). ``lower_bound`` (0 for ponding depth,
    rain, counts) censors it at the bound (see :func:`pit_values`); without it the reading's
    steep tail just below tied quantiles stands in for the mass below them.

    ``randomize=False`` returns instead the mean of each row's *probability* of being covered,
    ``|[F(y-), F(y)] and [low, high]| / (F(y) - F(y-))`` (an indicator where ``F`` is
    continuous): the same expectation without the draw's noise, independent of ``seed``.
    ``nan`` when no row is scored.
    """
    if not 0.0 <= low < high <= 1.0:
        raise ValueError("need 0 <= low < high <= 1")
    rows = _scored(preds, _qcols(quantiles))
    if rows.is_empty():
        return float("nan")
    lower, upper = _pit_bounds(rows, quantiles, lower_bound, discrete)
    if randomize:
        u = lower + np.random.default_rng(seed).random(rows.height) * (upper - lower)
        return float(np.mean((u >= low) & (u <= high)))
    width = upper - lower
    overlap = np.clip(np.minimum(upper, high) - np.maximum(lower, low), 0.0, None)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(
            width > 0, overlap / np.where(width > 0, width, 1.0), (upper >= low) & (upper <= high)
        )
    return float(np.mean(share))


# --------------------------------------------------------------------------------------------
# probability of an event


def _float_array(x: Any) -> np.ndarray:
    if isinstance(x, pl.Series):
        return x.cast(pl.Float64).to_numpy().astype(float)
    return np.asarray(x, dtype=float)


def _probability_pairs(p: Any, outcome: Any) -> tuple[np.ndarray, np.ndarray]:
    """``p`` and 0/1 ``outcome`` on the rows whose outcome is known (null/NaN outcomes are
    dropped; a missing or out-of-range probability on a known outcome raises)."""
    o = _float_array(outcome).ravel()
    prob = _float_array(p)
    prob = np.full(o.shape, float(prob)) if prob.ndim == 0 else prob.ravel()
    if prob.shape != o.shape:
        raise ValueError("p and outcome must have the same length")
    keep = ~np.isnan(o)
    prob, o = prob[keep], o[keep]
    if np.isnan(prob).any():
        raise ValueError("probability missing (NaN/null) where the outcome is known")
    if ((prob < 0) | (prob > 1)).any():
        raise ValueError("probabilities must lie in [0, 1]")
    if not np.isin(o, (0.0, 1.0)).all():
        raise ValueError("outcome must be 0/1 (or boolean)")
    return prob, o


def brier_score(p: Any, outcome: Any) -> float:
    """Brier score ``mean (p - o)^2`` of event probabilities ``p`` against 0/1 outcomes ``o``
    (0 is perfect, 1 the worst). Arrays, lists or Polars series; rows with an unknown (null /
    NaN) outcome are dropped; ``nan`` when none is left."""
    prob, o = _probability_pairs(p, outcome)
    return float(np.mean((prob - o) ** 2)) if o.size else float("nan")


def brier_skill(p: Any, outcome: Any, reference_p: Any) -> float:
    """Brier skill score ``1 - BS(p) / BS(reference_p)`` on the same rows.

    ``reference_p`` is a probability per row or one number, usually climatology: the event's
    base rate in the *training* period (the base rate of the evaluated period itself would be
    an in-sample reference). 1 is perfect, 0 no better than the reference, negative worse;
    ``nan`` when the reference is itself perfect (score 0) or no row is left.
    """
    bs = brier_score(p, outcome)
    bs_ref = brier_score(reference_p, outcome)
    if not bs_ref > 0:
        return float("nan")
    return 1.0 - bs / bs_ref


def reliability_table(p: Any, outcome: Any, bins: int = 10) -> pl.DataFrame:
    """``bin, p_mean, observed_freq, n``: the data of a reliability diagram.

    Probabilities fall in ``bins`` equal-width bins; bin ``k`` holds ``k/bins <= p <
    (k+1)/bins`` (``p = 1`` in the last bin; the bin is ``floor(p * bins)`` in floating point).
    ``p_mean`` is the mean forecast probability in the bin, ``observed_freq`` the share of
    outcomes that happened; a calibrated forecast has them equal. Every bin is listed; an empty
    bin has ``n = 0`` and null ``p_mean`` and ``observed_freq``. Outcomes handled as in
    :func:`brier_score`.
    """
    if bins < 1:
        raise ValueError("bins must be at least 1")
    prob, o = _probability_pairs(p, outcome)
    idx = np.minimum((prob * bins).astype(int), bins - 1)
    n = np.bincount(idx, minlength=bins)
    p_sum = np.bincount(idx, weights=prob, minlength=bins)
    o_sum = np.bincount(idx, weights=o, minlength=bins)
    return pl.DataFrame(
        {
            "bin": np.arange(bins),
            "p_mean": [float(s / c) if c else None for s, c in zip(p_sum, n, strict=True)],
            "observed_freq": [float(s / c) if c else None for s, c in zip(o_sum, n, strict=True)],
            "n": n,
        },
        schema={"bin": pl.Int64, "p_mean": pl.Float64, "observed_freq": pl.Float64, "n": pl.Int64},
    )


# --------------------------------------------------------------------------------------------
# events


def _ratio(a: int, b: int) -> float:
    return a / b if b else float("nan")


@dataclass(frozen=True)
class Contingency:
    """The 2 x 2 table of warnings against observed events."""

    hits: int
    misses: int
    false_alarms: int
    correct_negatives: int

    @property
    def pod(self) -> float:
        """Probability of detection ``hits / (hits + misses)`` (``nan`` without events)."""
        return _ratio(self.hits, self.hits + self.misses)

    @property
    def far(self) -> float:
        """False alarm ratio ``false_alarms / (hits + false_alarms)`` (``nan`` without
        warnings)."""
        return _ratio(self.false_alarms, self.hits + self.false_alarms)

    @property
    def csi(self) -> float:
        """Critical success index ``hits / (hits + misses + false_alarms)``."""
        return _ratio(self.hits, self.hits + self.misses + self.false_alarms)


def contingency(warn: Any, observed: Any) -> Contingency:
    """Count hits, misses, false alarms and correct negatives of boolean ``warn`` against
    boolean ``observed`` (Polars series, arrays or lists of equal length). A row where either
    is null is counted in no cell."""
    w = warn if isinstance(warn, pl.Series) else pl.Series(list(warn), dtype=pl.Boolean)
    o = observed if isinstance(observed, pl.Series) else pl.Series(list(observed), dtype=pl.Boolean)
    if w.len() != o.len():
        raise ValueError("warn and observed must have the same length")
    frame = pl.DataFrame({"w": w.cast(pl.Boolean), "o": o.cast(pl.Boolean)}).drop_nulls()
    cells = frame.select(
        (pl.col("w") & pl.col("o")).sum().alias("hits"),
        (~pl.col("w") & pl.col("o")).sum().alias("misses"),
        (pl.col("w") & ~pl.col("o")).sum().alias("false_alarms"),
        (~pl.col("w") & ~pl.col("o")).sum().alias("correct_negatives"),
    ).row(0, named=True)
    return Contingency(**{k: int(v or 0) for k, v in cells.items()})


@dataclass(frozen=True)
class EventSkill:
    threshold: float
    hits: int
    misses: int
    false_alarms: int
    pod: float
    far: float
    csi: float
    events: int
    events_detected: int
    event_pod: float
    median_lead_time_min: float | None

    def to_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


def event_skill(
    preds: pl.DataFrame,
    observed: pl.DataFrame,
    *,
    threshold: float,
    warn: pl.Expr,
    max_lead: timedelta,
) -> EventSkill:
    """Event skill of forecasts judged by ``warn`` (a boolean over a prediction row).

    Args:
        preds: ``series_id, origin, ts, y`` plus whatever ``warn`` reads.
        observed: ``series_id, ts, value`` on the task's grid for the evaluated period; event
            episodes are the runs of ``value >= threshold``.
        warn: when a forecast row counts as a warning (e.g. exceedance probability >= 0.4).
        max_lead: origins earlier than the onset by more than this are not credited.

    Per forecast: :func:`contingency` of ``warn`` against ``y >= threshold`` over the rows with
    an observed target. Per event: an episode counts as detected when some origin at or before
    its onset (and no more than ``max_lead`` before) warned for a time inside the episode; its
    lead time is onset minus the earliest such origin.
    """
    rows = preds.filter(pl.col("y").is_not_null()).with_columns(
        warn.alias("_warn"), (pl.col("y") >= threshold).alias("_obs")
    )
    table = contingency(rows["_warn"], rows["_obs"])

    episodes = _episodes(observed, threshold)
    warned = rows.filter(pl.col("_warn")).select("series_id", "origin", "ts")
    leads: list[float] = []
    if not episodes.is_empty() and not warned.is_empty():
        matched = (
            episodes.join(warned, on="series_id")
            .filter(
                (pl.col("ts") >= pl.col("onset"))
                & (pl.col("ts") <= pl.col("end"))
                & (pl.col("origin") <= pl.col("onset"))
                & (pl.col("origin") >= pl.col("onset") - max_lead)
            )
            .group_by("series_id", "onset")
            .agg(pl.col("origin").min().alias("first_warned"))
            .with_columns(
                (pl.col("onset") - pl.col("first_warned")).dt.total_minutes().alias("lead")
            )
        )
        leads = matched["lead"].cast(pl.Float64).to_list()
    n_events = episodes.height
    detected = len(leads)
    median = float(pl.Series(leads).median()) if leads else None
    return EventSkill(
        threshold=threshold,
        hits=table.hits,
        misses=table.misses,
        false_alarms=table.false_alarms,
        pod=table.pod,
        far=table.far,
        csi=table.csi,
        events=n_events,
        events_detected=detected,
        event_pod=_ratio(detected, n_events),
        median_lead_time_min=median,
    )


def _episodes(observed: pl.DataFrame, threshold: float) -> pl.DataFrame:
    """``series_id, onset, end``: runs of consecutive grid values at or above the threshold."""
    flagged = observed.sort("series_id", "ts").with_columns(
        (pl.col("value") >= threshold).fill_null(False).alias("_on")
    )
    flagged = flagged.with_columns(
        (pl.col("_on") != pl.col("_on").shift(1).over("series_id"))
        .fill_null(True)
        .cum_sum()
        .over("series_id")
        .alias("_run")
    )
    return (
        flagged.filter(pl.col("_on"))
        .group_by("series_id", "_run")
        .agg(pl.col("ts").min().alias("onset"), pl.col("ts").max().alias("end"))
        .select("series_id", "onset", "end")
        .sort("series_id", "onset")
    )


# --------------------------------------------------------------------------------------------
# one call for the headline numbers


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
