"""The ``sarimax`` family's model of one series: SARIMAX, fitted and Kalman-filtered.

:class:`statsmodels.tsa.statespace.sarimax.SARIMAX` with ``order``, an optional
``seasonal_order`` (its period is ``season``) and the regressors of :mod:`models.exogenous`:
constant, daily Fourier terms and calendar flags, and rain as trailing sums where ``rain``
names an observed covariate. A regressor that is constant over a series' fit data (no holiday
in the window, no rain) is dropped for that series, so a holiday effect is learnt only from a
fit window that holds holidays. Estimation is in two steps: the regression by least squares
(on the differenced series when differenced), then the ARMA parameters by SARIMAX's maximum
likelihood on its residuals; ``joint: true`` then polishes all of them together by maximum
likelihood (about ten times slower: a dozen parameters by numerical gradients, for a
log-likelihood a few units higher on 4000 steps). The default ``order`` is AR(2); MA terms
slow the optimiser down as much again.

Interior gaps stay missing (the Kalman filter skips them, the exact treatment). Statsmodels is
used to fit only: the fitted state space is kept as arrays, and forecasts run a batched Kalman
filter here from the initial state distribution (stationary, or approximately diffuse with
differencing) over each window. Windows without gaps share one covariance recursion, so the
cost is a few array operations per window step.
"""

from __future__ import annotations

import numpy as np

from models.series_state import _Config, _Fitted

DIFFUSE_KAPPA = 1e6


def _difference(a: np.ndarray, d: int, seasonal_d: int, season: int) -> np.ndarray:
    """``a`` differenced ``d`` times and seasonally ``seasonal_d`` times along its first axis."""
    for _ in range(d):
        a = a[1:] - a[:-1]
    for _ in range(seasonal_d):
        a = a[season:] - a[:-season]
    return a


def fit_sarimax(cfg: _Config, y: np.ndarray, exog: np.ndarray) -> _Fitted:
    """SARIMAX fitted to one trimmed series with its regressors ``exog`` (rows aligned with
    ``y``): the regression coefficients and the state space as arrays."""
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    seen = np.isfinite(y)
    d, seasonal_d = cfg.order[1], cfg.seasonal_order[1]
    # the constant only without differencing; regressors constant over the fit data dropped
    keep = np.ptp(exog[seen], axis=0) > 1e-12
    keep[0] = not (d or seasonal_d)
    x = exog[:, keep]
    # two steps: the regression by least squares (on the differenced series, if differenced),
    # then the ARMA parameters by maximum likelihood on its residuals (a few parameters, not
    # a dozen); ``joint`` then polishes all of them together by maximum likelihood
    beta = np.zeros(0)
    if x.shape[1]:
        yd = _difference(y, d, seasonal_d, cfg.season_steps)
        xd = _difference(x, d, seasonal_d, cfg.season_steps)
        ok = np.isfinite(yd)
        beta = np.linalg.lstsq(xd[ok], yd[ok], rcond=None)[0]
    arma_order = {
        "order": cfg.order,
        "seasonal_order": (*cfg.seasonal_order, cfg.season_steps if cfg.season_steps else 0),
        "trend": "n",
        "concentrate_scale": True,
    }
    fit_options = {"disp": False, "maxiter": cfg.maxiter, "cov_type": "none", "low_memory": True}
    arma = SARIMAX(y - x @ beta, **arma_order).fit(**fit_options)
    model = SARIMAX(y, exog=x if x.shape[1] else None, **arma_order)
    params = np.concatenate([beta, np.asarray(arma.params, dtype=float)])
    res = arma
    if cfg.joint:
        res = model.fit(start_params=params, **fit_options)
        params = np.asarray(res.params, dtype=float)
    model.update(params)
    ssm = model.ssm
    mean, diffuse, stationary = ssm.initialization(model=ssm)
    coefficients = np.zeros(exog.shape[1])
    coefficients[keep] = params[: x.shape[1]]
    selection = ssm["selection"]
    return _Fitted(
        kind="sarimax",
        points=int(seen.sum()),
        converged=bool(res.mle_retvals.get("converged", True)) if res.mle_retvals else None,
        season_steps=cfg.season_steps,
        scale=float(res.scale),
        arrays={
            "design": np.asarray(ssm["design"], dtype=float)[0].copy(),
            "obs_cov": np.asarray(ssm["obs_cov"], dtype=float).reshape(1).copy(),
            "transition": np.asarray(ssm["transition"], dtype=float).copy(),
            "state_intercept": np.asarray(ssm["state_intercept"], dtype=float).reshape(-1).copy(),
            "state_noise": selection @ ssm["state_cov"] @ selection.T,
            "a0": np.asarray(mean, dtype=float).copy(),
            "p0": np.asarray(stationary + DIFFUSE_KAPPA * diffuse, dtype=float),
            "beta": coefficients,
        },
    )


def _regression(
    fitted: _Fitted,
    first_abs: np.ndarray,
    length: int,
    h_steps: np.ndarray,
    exog: np.ndarray,
    exog_first_abs: int,
    rain: tuple[np.ndarray, np.ndarray] | None,
) -> tuple[np.ndarray, np.ndarray]:
    """The regression part of each window's bins ``(n, length)`` and of its forecast path
    ``(n, horizons)``: the shared regressors' and the window's own rain's."""
    k = 0 if rain is None else rain[0].shape[2]
    beta = fitted.arrays["beta"]
    offset = exog @ beta[: beta.size - k]  # the shared regression part of each bin
    cols = (first_abs - exog_first_abs)[:, None] + np.arange(length)[None, :]
    inside = cols >= 0
    intercept = np.where(inside, offset[np.clip(cols, 0, None)], 0.0)
    future = first_abs[:, None] + length - 1 + h_steps[None, :] - exog_first_abs
    ahead = offset[future]
    if rain is not None:
        intercept = intercept + rain[0] @ beta[beta.size - k :]
        ahead = ahead + rain[1][:, h_steps - 1] @ beta[beta.size - k :]
    return intercept, ahead


def sarimax_forecast(
    fitted: _Fitted,
    windows: np.ndarray,
    first_abs: np.ndarray,
    h_steps: np.ndarray,
    exog: np.ndarray,
    exog_first_abs: int,
    rain: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation ``(windows, horizons)``, each window filtered from the
    initial state; ``exog`` holds the shared regressors from absolute bin ``exog_first_abs``
    on; ``rain`` the window's own rain regressors, ``(n, length, k)`` over the window and
    ``(n, max_h, k)`` over the forecast path (their coefficients come last)."""
    a = fitted.arrays
    n, length = windows.shape
    intercept, ahead = _regression(fitted, first_abs, length, h_steps, exog, exog_first_abs, rain)
    mean = np.empty((n, h_steps.size))
    var = np.empty((n, h_steps.size))
    gaps = ~np.isfinite(windows).all(axis=1)
    for rows in (np.flatnonzero(~gaps), np.flatnonzero(gaps)):
        if rows.size:
            state, cov = _kalman(a, windows[rows] - intercept[rows], shared=not gaps[rows[0]])
            m_, v_ = _kalman_ahead(a, state, cov, int(h_steps.max()))
            mean[rows] = m_[:, h_steps - 1] + ahead[rows]
            var[rows] = v_[:, h_steps - 1] if v_.shape[0] == rows.size else v_[0, h_steps - 1]
    return mean, np.sqrt(np.maximum(var * fitted.scale, 0.0))


def sarimax_forecast_many(
    series: list[tuple[_Fitted, np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray] | None]],
    h_steps: np.ndarray,
    exog: np.ndarray,
    exog_first_abs: int,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """:func:`sarimax_forecast` of many series at once, one Kalman filter over all their
    windows with each row's own state space (of one size: one order). Per series
    ``(fitted, windows, first_abs, rain)``; the same answers, per series, in order.

    Serving forecasts one origin per series: filtered one series at a time, a hundred series
    cost a hundred Python loops over the filter window (about 2 ms each); here one loop of
    small batched matrix products serves them all."""
    counts = np.array([w.shape[0] for _, w, _, _ in series])
    length = series[0][1].shape[1]
    parts = [
        _regression(f, first, length, h_steps, exog, exog_first_abs, rain)
        for f, _, first, rain in series
    ]
    y = np.concatenate([w - part[0] for (_, w, _, _), part in zip(series, parts, strict=True)])

    def rows(name: str) -> np.ndarray:
        return np.repeat(np.stack([f.arrays[name] for f, _, _, _ in series]), counts, axis=0)

    names = ("design", "obs_cov", "transition", "state_intercept", "state_noise", "a0", "p0")
    a = {name: rows(name) for name in names}
    state, cov = _kalman_rows(a, y)
    mean, var = _kalman_ahead_rows(a, state, cov, int(h_steps.max()))
    scale = np.repeat([f.scale for f, _, _, _ in series], counts)
    sd = np.sqrt(np.maximum(var[:, h_steps - 1] * scale[:, None], 0.0))
    mean = mean[:, h_steps - 1]
    out, at = [], 0
    for n, (_, ahead) in zip(counts, parts, strict=True):
        out.append((mean[at : at + n] + ahead, sd[at : at + n]))
        at += n
    return out


def _kalman_rows(a: dict[str, np.ndarray], y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_kalman` with a state space per row (each array with a leading row axis):
    filtered state ``(n, m)`` and covariance ``(n, m, m)`` at the last column of ``y``."""
    z, h, t = a["design"], a["obs_cov"][:, 0], a["transition"]
    c, rqr = a["state_intercept"], a["state_noise"]
    t_t = np.swapaxes(t, 1, 2)
    state, cov = a["a0"].copy(), a["p0"].copy()
    for j in range(y.shape[1]):
        if j:
            state = np.matmul(t, state[:, :, None])[:, :, 0] + c
            cov = t @ cov @ t_t + rqr
        pz = np.matmul(cov, z[:, :, None])[:, :, 0]  # (n, m)
        f = (pz * z).sum(axis=1) + h
        v = y[:, j] - (state * z).sum(axis=1)
        gain = pz / np.where(f > 0, f, 1.0)[:, None]
        ok = (np.isfinite(v) & (f > 0)).astype(float)  # a missing value skips the update
        state = state + (np.nan_to_num(v) * ok)[:, None] * gain
        cov = cov - ok[:, None, None] * (gain[:, :, None] * pz[:, None, :])
    return state, cov


def _kalman_ahead_rows(
    a: dict[str, np.ndarray], state: np.ndarray, cov: np.ndarray, h_max: int
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_kalman_ahead` with a state space per row: mean and variance ``(n, h_max)``."""
    z, h, t = a["design"], a["obs_cov"][:, 0], a["transition"]
    c, rqr = a["state_intercept"], a["state_noise"]
    t_t = np.swapaxes(t, 1, 2)
    mean = np.empty((state.shape[0], h_max))
    var = np.empty((state.shape[0], h_max))
    for k in range(h_max):
        state = np.matmul(t, state[:, :, None])[:, :, 0] + c
        cov = t @ cov @ t_t + rqr
        mean[:, k] = (state * z).sum(axis=1)
        var[:, k] = (np.matmul(cov, z[:, :, None])[:, :, 0] * z).sum(axis=1) + h
    return mean, var


def _kalman(
    a: dict[str, np.ndarray], y: np.ndarray, *, shared: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Filtered state ``(n, m)`` and covariance ``(1 or n, m, m)`` at the last column of ``y``
    (observations less their regression part), starting each row from the initial state.
    ``shared``: no row has a gap, so one covariance recursion serves them all."""
    z, h, t = a["design"], float(a["obs_cov"][0]), a["transition"]
    c, rqr = a["state_intercept"], a["state_noise"]
    n, length = y.shape
    state = np.repeat(a["a0"][None, :], n, axis=0)
    cov = a["p0"][None, :, :].copy() if shared else np.repeat(a["p0"][None], n, axis=0)
    for j in range(length):
        if j:
            state = state @ t.T + c
            cov = t @ cov @ t.T + rqr
        pz = cov @ z  # (k, m)
        f = pz @ z + h  # (k,)
        v = y[:, j] - state @ z
        gain = pz / np.where(f > 0, f, 1.0)[:, None]
        if shared:  # every row observed: one update of the shared covariance
            if f[0] > 0:
                state = state + v[:, None] * gain
                cov = cov - gain[:, :, None] * pz[:, None, :]
        else:  # rows with a missing value (or no uncertainty left) skip the update
            ok = (np.isfinite(v) & (f > 0)).astype(float)
            state = state + (np.nan_to_num(v) * ok)[:, None] * gain
            cov = cov - ok[:, None, None] * (gain[:, :, None] * pz[:, None, :])
    return state, cov


def _kalman_ahead(
    a: dict[str, np.ndarray], state: np.ndarray, cov: np.ndarray, h_max: int
) -> tuple[np.ndarray, np.ndarray]:
    """Forecast mean (less regression) ``(n, h_max)`` and variance ``(k, h_max)`` (unscaled)."""
    z, h, t = a["design"], float(a["obs_cov"][0]), a["transition"]
    c, rqr = a["state_intercept"], a["state_noise"]
    mean = np.empty((state.shape[0], h_max))
    var = np.empty((cov.shape[0], h_max))
    for k in range(h_max):
        state = state @ t.T + c
        cov = t @ cov @ t.T + rqr
        mean[:, k] = state @ z
        var[:, k] = (cov @ z) @ z + h
    return mean, var
