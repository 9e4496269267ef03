"""Quantile-forecast metrics: pinball loss, CRPS from quantiles, interval and PIT coverage.

They read the quantile columns of a prediction frame (``q10, q50, q90, ...``). The column
names of a set of levels (:func:`_qcols`) and the per-row pinball loss (:func:`_pinball_row`)
live here because the by-horizon and headline tables of :mod:`training.metrics.scores` reuse
them; the forecast CDF is read exactly as :func:`models.cdf_bounds` reads it, so the PIT here
agrees with the exceedance probabilities that warnings use.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from models import cdf_bounds, quantile_column
from training.metrics.prediction_frame import _scalar, _scored


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
