"""One series' fit and forecast as a worker runs them: the model, its fallback, its quantiles.

Both statistical families go through here; :mod:`models.ets` and :mod:`models.sarimax` hold
what differs. Leading and trailing missing bins are dropped before a fit.

Fallback: a series with fewer than 48 usable points (3 seasons for a seasonal ARIMA), a
constant series, or one whose fit fails or leaves a zero or non-finite variance is forecast by
persistence (the last observed value in the filter window, else the series' median) with
quantiles of persistence errors per horizon pooled over all series' fit data. One sensor's
failed fit must not fail the task.

Quantiles (``intervals``). ``empirical`` (the default for levels): the fitted model forecasts
its own fit data from up to 600 strided origins, and each quantile is the point forecast plus
that quantile of the errors per series and step ahead; the point forecast is the median (the
mean plus the median error). ``negbin`` (the default for counts: a target counted from events
or a signal in counts): a negative binomial with the forecast as its mean and a dispersion per
series and step ahead estimated by moments from the same in-sample forecasts (Poisson where
not over-dispersed, as the LightGBM Poisson objective does); the point forecast is its median.
``gaussian``: from the model's forecast variance (ETS: the analytic variance of the
additive-error class; SARIMAX: the Kalman forecast variance), the point forecast the mean.
Measured on the simulated hotline (SARIMAX; 80% interval coverage by randomised PIT for
counts): Gaussian MAE 0.61, PIT coverage 0.37; empirical 0.55, 0.48; negative binomial 0.49,
0.76. On ponding (ETS) the empirical intervals beat the Gaussian ones too (MAE 0.084 against
0.087, PIT coverage 0.81 against 0.77).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from models.ets import ets_forecast, fit_ets
from models.exogenous import FitRain, RainPath, Regressors, rain_columns, trailing_sums
from models.sarimax import fit_sarimax, sarimax_forecast, sarimax_forecast_many
from models.series_state import _Config, _Fitted

EMPIRICAL_ORIGINS = 600  # at most this many in-sample origins per series for empirical quantiles


# --- fitting one series ----------------------------------------------------------------------


def _trim(y: np.ndarray) -> tuple[np.ndarray, int]:
    """``y`` without leading and trailing missing bins, and the offset of its first bin."""
    seen = np.flatnonzero(np.isfinite(y))
    if seen.size == 0:
        return y[:0], 0
    return y[seen[0] : seen[-1] + 1], int(seen[0])


def fit_series(
    cfg: _Config,
    values: np.ndarray,
    first_abs: int,
    exog: np.ndarray | None,
    rain: FitRain | None = None,
) -> _Fitted:
    """Fit one series (runs in a worker): its model, or the persistence fallback and why.

    ``exog``: SARIMAX's shared regressors over the fit data; ``rain``: the series' observed
    rain (SARIMAX with ``rain``), whose trailing sums join them as the last columns."""
    y, offset = _trim(values)
    observed = y[np.isfinite(y)]
    median = float(np.median(observed)) if observed.size else float("nan")
    if observed.size < cfg.min_points:
        return _Fitted(
            reason=f"{observed.size} points (fewer than {cfg.min_points})", median=median
        )
    if np.ptp(observed) < 1e-9:
        return _Fitted(reason="constant", points=observed.size, median=median)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if cfg.family == "ets":
                fitted = fit_ets(cfg, y, first_abs + offset)
            else:
                assert exog is not None
                x = exog
                if rain is not None:
                    x = np.hstack([exog, trailing_sums(rain.steps, cfg.rain_windows)])
                fitted = fit_sarimax(cfg, y, x[offset : offset + y.size])
    except Exception as err:  # one sensor's failed fit must not fail the task: it falls back
        reason = f"fit failed: {type(err).__name__}: {err}"
        return _Fitted(reason=reason, points=observed.size, median=median)
    fitted.median = median
    if not (np.isfinite(fitted.scale) and fitted.scale > 0) or not all(
        np.isfinite(a).all() for a in fitted.arrays.values()
    ):
        return _Fitted(reason="zero or non-finite variance", points=observed.size, median=median)
    if cfg.intervals != "gaussian":
        point, future = _in_sample(cfg, fitted, values, first_abs, exog, rain)
        if cfg.intervals == "empirical":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a step never observed: NaN
                fitted.errors = np.nanquantile(future - point, cfg.quantiles, axis=0).T
        else:
            fitted.dispersion = _dispersion(point, future)
    return fitted


def _in_sample(
    cfg: _Config,
    fitted: _Fitted,
    values: np.ndarray,
    first_abs: int,
    exog: np.ndarray | None,
    rain: FitRain | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The fitted model's forecasts of its own fit data from up to 600 origins, and what came:
    ``(origins, max_h)`` each (NaN where unknown). The origins are strided over the data, or
    with rain those of the fit frame, each with the rain forecast as it was issued then."""
    n = values.size
    last = n - 1 - cfg.max_h
    if last < 1:
        empty = np.full((1, cfg.max_h), np.nan)
        return empty, empty
    future_rain = None
    if rain is not None and rain.origins is not None and rain.future is not None:
        keep = np.flatnonzero((rain.origins >= 1) & (rain.origins <= last))
        keep = keep[:: max(1, keep.size // EMPIRICAL_ORIGINS)]
        origins, future_rain = rain.origins[keep], rain.future[keep]
    if future_rain is None or origins.size == 0:
        stride = max(1, last // EMPIRICAL_ORIGINS)
        origins = np.arange(last, 0, -stride)[::-1]
        future_rain = np.zeros((origins.size, cfg.max_h))
    padded = np.concatenate([np.full(cfg.filter_steps - 1, np.nan), values])
    cols = origins[:, None] + np.arange(cfg.filter_steps)[None, :]
    windows = padded[cols]
    regressors = None
    if exog is not None:
        path = None
        if rain is not None:
            lead = max(cfg.rain_windows) - 1
            steps = np.concatenate([np.full(cfg.filter_steps - 1, np.nan), rain.steps])
            observed = steps[origins[:, None] + np.arange(cfg.filter_steps + lead)[None, :]]
            path = RainPath(observed, future_rain)
        regressors = Regressors(exog, first_abs, path)
    point, _ = _model_forecast(
        cfg, fitted, windows, origins + first_abs, np.arange(1, cfg.max_h + 1), regressors
    )
    return point, values[origins[:, None] + np.arange(1, cfg.max_h + 1)[None, :]]


def _dispersion(point: np.ndarray, future: np.ndarray) -> np.ndarray:
    """Negative-binomial dispersion per step ahead by moments, ``var = mu + alpha mu^2``, as
    the LightGBM Poisson objective estimates it (0: Poisson; NaN: nothing observed)."""
    mu = np.clip(point, 1e-9, None)
    seen = np.isfinite(future) & np.isfinite(mu)
    out = np.full(point.shape[1], np.nan)
    for h in range(point.shape[1]):
        m, y = mu[seen[:, h], h], future[seen[:, h], h]
        if m.size:
            excess = float(np.mean((y - m) ** 2) - np.mean(m))
            out[h] = max(excess, 0.0) / max(float(np.mean(m**2)), 1e-9)
    return out


def persistence_errors(values: np.ndarray, cfg: _Config) -> np.ndarray:
    """Quantiles per step ahead of persistence errors pooled over all series: the fallback's
    intervals. Zero where no pair of observations is that far apart."""
    out = np.zeros((cfg.max_h, len(cfg.quantiles)))
    n = values.shape[1]
    for h in range(1, min(cfg.max_h, n - 1) + 1):
        diff = (values[:, h:] - values[:, :-h]).ravel()
        diff = diff[np.isfinite(diff)]
        if diff.size:
            out[h - 1] = np.quantile(diff, cfg.quantiles)
    return out


# --- forecasting one series ------------------------------------------------------------------


def forecast_series(
    cfg: _Config,
    fitted: _Fitted,
    windows: np.ndarray,
    origin_abs: np.ndarray,
    h_steps: np.ndarray,
    regressors: Regressors | None,
) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """Point forecasts ``(origins, horizons)`` and quantiles ``(origins, horizons, q)`` of one
    series (runs in a worker); a fallback returns no quantiles (the caller adds the pooled
    persistence errors). ``regressors``: SARIMAX's (None for ETS)."""
    if fitted.kind == "fallback":
        return _persistence(windows, fitted.median, h_steps.size), None, True
    point, sd = _model_forecast(cfg, fitted, windows, origin_abs, h_steps, regressors)
    return _intervals(cfg, [fitted], [(point, sd)], h_steps)[0]


def forecast_together(
    jobs: list[tuple[Any, ...]],
) -> list[tuple[np.ndarray, np.ndarray | None, bool]]:
    """:func:`forecast_series` of every job (its arguments) in this process: the SARIMAX
    series filtered together (:func:`models.sarimax.sarimax_forecast_many`, one batch per
    state size) and the quantiles of all series computed together. For few origins per
    series, where one series' Python loops cost more than its arithmetic (serving)."""
    out: list[tuple[np.ndarray, np.ndarray | None, bool] | None] = [None] * len(jobs)
    batches: dict[tuple[int, int], list[int]] = {}
    for i, (_, fitted, _, _, _, regressors) in enumerate(jobs):
        if fitted.kind == "sarimax" and regressors is not None:
            k = 0 if regressors.rain is None else len(jobs[i][0].rain_windows)
            batches.setdefault((fitted.arrays["transition"].shape[0], k), []).append(i)
    alone = sorted(set(range(len(jobs))) - {i for b in batches.values() for i in b})
    for i in alone:
        out[i] = forecast_series(*jobs[i])
    for index in batches.values():
        cfg, h_steps = jobs[index[0]][0], jobs[index[0]][4]
        shared = jobs[index[0]][5]
        series = []
        for i in index:
            _, fitted, windows, origin_abs, _, regressors = jobs[i]
            rain = regressors.rain
            columns = rain_columns(rain, cfg.rain_windows) if rain is not None else None
            series.append((fitted, windows, origin_abs - windows.shape[1] + 1, columns))
        forecasts = sarimax_forecast_many(series, h_steps, shared.shared, shared.first_abs)
        fitteds = [jobs[i][1] for i in index]
        for i, answer in zip(index, _intervals(cfg, fitteds, forecasts, h_steps), strict=True):
            out[i] = answer
    assert all(o is not None for o in out)
    return [o for o in out if o is not None]


def _intervals(
    cfg: _Config,
    fitteds: list[_Fitted],
    forecasts: list[tuple[np.ndarray, np.ndarray]],
    h_steps: np.ndarray,
) -> list[tuple[np.ndarray, np.ndarray | None, bool]]:
    """Each fitted series' point forecast and quantiles from its model's mean and standard
    deviation (``intervals``), the negative binomials of all series in one call."""
    out: list[tuple[np.ndarray, np.ndarray | None, bool]] = []
    negbin = []
    for fitted, (point, sd) in zip(fitteds, forecasts, strict=True):
        gaussian = point[:, :, None] + sd[:, :, None] * cfg.z[None, None, :]
        if cfg.intervals == "negbin" and fitted.dispersion is not None:
            alpha = np.broadcast_to(fitted.dispersion[h_steps - 1][None, :], point.shape)
            negbin.append((len(out), point, alpha, gaussian))
            out.append((point, gaussian, False))  # replaced below
        elif cfg.intervals == "gaussian" or fitted.errors is None:
            out.append((point, gaussian, False))
        else:
            errors = fitted.errors[h_steps - 1]  # (horizons, q)
            quants = np.where(
                np.isfinite(errors)[None, :, :], point[:, :, None] + errors[None, :, :], gaussian
            )
            mid = np.interp(0.5, cfg.quantiles, np.arange(len(cfg.quantiles)))
            out.append((_interp_columns(quants, mid), quants, False))
    if negbin:
        median, quants = _negbin(
            cfg,
            np.concatenate([n[1] for n in negbin]),
            np.concatenate([n[2] for n in negbin]),
            np.concatenate([n[3] for n in negbin]),
        )
        at = 0
        for i, point, _, _ in negbin:
            rows = slice(at, at + point.shape[0])
            out[i] = (median[rows], quants[rows], False)
            at += point.shape[0]
    return out


def _negbin(
    cfg: _Config, point: np.ndarray, alpha: np.ndarray, gaussian: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Quantiles of a negative binomial with the forecast as its mean and each cell's
    dispersion ``alpha`` (Poisson where not over-dispersed); the point forecast is its median."""
    from scipy import stats

    mu = np.clip(point, 1e-9, None)
    a = alpha
    n = 1.0 / np.where(a > 1e-6, a, 1.0)
    out = []
    for q in (*cfg.quantiles, 0.5):
        value = np.where(
            a > 1e-6, stats.nbinom.ppf(q, n, n / (n + mu)), stats.poisson.ppf(q, mu)
        ).astype(np.float64)
        out.append(value)
    quants = np.stack(out[:-1], axis=2)
    quants = np.where(np.isfinite(a)[:, :, None], quants, gaussian)  # a step never observed
    return np.where(np.isfinite(a), out[-1], point), quants


def _interp_columns(quants: np.ndarray, position: float) -> np.ndarray:
    lo = math.floor(position)
    hi = min(lo + 1, quants.shape[2] - 1)
    frac = position - lo
    return quants[:, :, lo] * (1 - frac) + quants[:, :, hi] * frac


def _persistence(windows: np.ndarray, median: float, n_h: int) -> np.ndarray:
    """The last observed value of each window (else the series' median, else 0)."""
    seen = np.isfinite(windows)
    last = windows.shape[1] - 1 - np.argmax(seen[:, ::-1], axis=1)
    value = windows[np.arange(windows.shape[0]), last]
    fallback = median if np.isfinite(median) else 0.0
    value = np.where(seen.any(axis=1), value, fallback)
    return np.repeat(value[:, None], n_h, axis=1)


def _model_forecast(
    cfg: _Config,
    fitted: _Fitted,
    windows: np.ndarray,
    origin_abs: np.ndarray,
    h_steps: np.ndarray,
    regressors: Regressors | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation ``(origins, horizons)`` after filtering each window."""
    first_abs = origin_abs - windows.shape[1] + 1
    if fitted.kind == "ets":
        return ets_forecast(fitted, windows, first_abs, h_steps)
    assert regressors is not None
    rain = regressors.rain
    columns = rain_columns(rain, cfg.rain_windows) if rain is not None else None
    return sarimax_forecast(
        fitted, windows, first_abs, h_steps, regressors.shared, regressors.first_abs, columns
    )
