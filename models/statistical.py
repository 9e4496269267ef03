"""Statistical forecasters per series: exponential smoothing (ETS) and SARIMAX, from statsmodels.

Both families fit one model per series on the target's dense history
(:class:`features.history.TargetHistory`) and forecast every horizon from every origin of the
frame. They share the machinery below and differ in the model:

* ``ets``: :class:`statsmodels.tsa.exponential_smoothing.ets.ETSModel` with additive error, an
  optional (damped) additive trend and an additive season of ``season`` (a duration, converted
  to steps). The season is skipped when it is longer than 288 steps (a daily season at 5
  minutes is the longest kept), shorter than 2 steps, or when the fit data holds fewer than
  three full periods; the initial states come from statsmodels' heuristic (a centred moving
  average over the first periods), so only the smoothing parameters are estimated and a fit
  takes a fraction of a second even with 144 seasonal states. With ``select_season`` (the
  default) each series is also fitted without the season, and the season is kept only where it
  lowers the AIC (its initial states counted as parameters). A spiky, mostly-zero target such
  as ponding depth needs that: the heuristic bakes an isolated spike into the initial season,
  and with a seasonal smoothing near zero it comes back every day (measured on the simulated
  city: MAE 0.44 cm with a daily season forced, 0.084 with the AIC's choice, which dropped it
  on every ponding sensor and kept it on 46 of 72 hotline series).
* ``sarimax``: :class:`statsmodels.tsa.statespace.sarimax.SARIMAX` with ``order`` and an
  optional ``seasonal_order`` (its period is ``season``), and exogenous regressors that are
  known ahead: a constant (without differencing), ``fourier`` daily harmonics (sin and cos of
  the local time of day, which stand in for the daily cycle with 2K coefficients instead of a
  seasonal state per step) and the ``calendar`` flags of :mod:`features.holidays` (``holiday``,
  ``workday``, ``school_term``). A regressor that is constant over a series' fit data (no
  holiday in the window) is dropped for that series, so a holiday effect is learnt only from a
  fit window that holds holidays. Estimation is in two steps: the regression by least squares
  (on the differenced series when differenced), then the ARMA parameters by SARIMAX's maximum
  likelihood on its residuals; ``joint: true`` then polishes all of them together by maximum
  likelihood (about ten times slower: a dozen parameters by numerical gradients, for a
  log-likelihood a few units higher on 4000 steps). The default ``order`` is AR(2); MA terms
  slow the optimiser down as much again.

Rain is not a regressor. For a level such as ponding depth it would have to enter per step,
both over the history being filtered (observed rain, which ``TargetHistory`` does not carry)
and over the forecast path (per-step forecast rain, whereas the frame's ``fcst_rain`` is one
cumulative sum from the origin to each horizon). The tabular families use rain; these do not.

Fit, per series of the fit frame, on the last ``fit_window`` of history (which ends before the
first target time the model must not see):

* Gaps: leading and trailing missing bins are dropped. SARIMAX keeps interior gaps missing (the
  Kalman filter skips them, the exact treatment). ETS needs a complete series: gaps of up to
  ``max_gap`` are interpolated linearly, and across a longer gap only the stretch after it is
  used (or the longest stretch, if the last one is too short).
* Fallback: a series with fewer than 48 usable points (3 seasons for a seasonal ARIMA), a
  constant series, or one whose fit fails or leaves a zero or non-finite variance is forecast
  by persistence (the last observed value in the filter window, else the series' median) with
  quantiles of persistence errors per horizon pooled over all series' fit data. ``fit_summary``
  says which series fell back and why; series unseen in fit fall back too.

Predict, per series, for all origins of the frame at once (vectorised over origins with numpy):
the model restarts ``filter_window`` before each origin and is filtered with the fitted
parameters over the window up to and including the origin's bin, then forecast. ETS restarts
from the states the fit ended with (the season aligned by phase of the absolute time), SARIMAX
from its initial state distribution (stationary, or approximately diffuse with differencing).
A forecast therefore depends only on the fitted model and the ``filter_window`` of history up
to its origin, never on anything after it, and serving, which hands the model exactly
``history_span`` of history, reproduces the backtest. Missing bins in the window are skipped
(the state is carried forward by the model). SARIMAX shares one covariance recursion among
the windows without gaps, so its cost is a few array operations per window step.

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
0.087, PIT coverage 0.81 against 0.77). All values are clipped to the signal's physical range
and sorted across quantiles.

Parallel across series: fits (and predicts of more than ten million window steps) run in a
process pool of ``n_jobs`` workers (default: the cores available to this process); with
``n_jobs: 1``, or fewer than 4 series, they run in-process. Threads do not help: a fit is
mostly Python-level optimiser work under the GIL (measured: no gain with two threads). The
pool is kept for the life of the process and forks from a server that has imported this
module once; like any process pool, a script that fits these models must guard its entry
point with ``if __name__ == "__main__":``. BLAS is held to one thread around the per-series
work: its threads on tiny matrices made a likelihood ten times slower on busy cores. The
fitted state is plain numpy (no statsmodels results), so a model pickles small and predicts
identically after loading.
"""

from __future__ import annotations

import atexit
import contextlib
import math
import multiprocessing
import os
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from statistics import NormalDist
from typing import Any, Self

import numpy as np
import polars as pl

from features.calendar import calendar_columns
from features.durations import format_duration, parse_duration
from features.errors import ConfigError, DataError
from features.feature_spec import FeatureSpec
from features.history import TargetHistory
from features.schemas import LOCAL_TZ, SIGNALS
from features.tasks import TaskConfig
from models.protocol import FORECAST_KEYS, require_fitted, require_history
from models.quantiles import monotone, quantile_column

MAX_SEASON_STEPS = 288
MIN_POINTS = 48
POOL_MIN_SERIES = 4
PREDICT_POOL_MIN_STEPS = 10_000_000  # window steps (origins x filter_window) of one predict
EMPIRICAL_ORIGINS = 600  # at most this many in-sample origins per series for empirical quantiles
DIFFUSE_KAPPA = 1e6
CALENDAR_REGRESSORS = ("holiday", "workday", "school_term")
INTERVALS = ("empirical", "gaussian", "negbin")

_COMMON = {"fit_window", "filter_window", "max_gap", "intervals", "n_jobs", "maxiter"}
_ETS_PARAMS = _COMMON | {"season", "select_season", "trend", "damped"}
_SARIMAX_PARAMS = _COMMON | {"order", "seasonal_order", "season", "fourier", "calendar", "joint"}


# --- configuration ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Config:
    """What the workers need to know, resolved from the parameters and the task."""

    family: str
    fit_steps: int
    filter_steps: int
    max_gap_steps: int
    intervals: str
    quantiles: tuple[float, ...]
    max_h: int
    maxiter: int
    season_steps: int  # 0: no season
    trend: bool = False
    damped: bool = True
    order: tuple[int, int, int] = (2, 0, 0)
    seasonal_order: tuple[int, int, int] = (0, 0, 0)
    fourier: int = 0
    calendar: tuple[str, ...] = ()
    timezone: str = LOCAL_TZ  # the clock of the daily Fourier terms and calendar flags
    joint: bool = False
    select_season: bool = True

    @property
    def min_points(self) -> int:
        # ETS drops a season the data cannot carry; a seasonal ARIMA needs three periods
        return MIN_POINTS if self.family == "ets" else max(MIN_POINTS, 3 * self.season_steps)

    @property
    def z(self) -> np.ndarray:
        return np.array([NormalDist().inv_cdf(q) for q in self.quantiles])


def _default_durations(step: timedelta) -> tuple[str, str]:
    """Default ``fit_window`` and ``filter_window`` for a grid step."""
    if step < timedelta(hours=1):
        return "28d", "2d"
    if step < timedelta(days=1):
        return "90d", "7d"
    return "730d", "90d"


def _steps(text: Any, step: timedelta, key: str) -> int:
    n = parse_duration(text, key=key) / step
    if n < 1 or n != int(n):
        raise ConfigError(
            f"{key} must be a whole number (at least 1) of grid steps of {format_duration(step)}, "
            f"got {text!r}",
            key=key,
        )
    return int(n)


def _int_tuple(value: Any, n: int, key: str) -> tuple[int, ...]:
    if (
        not isinstance(value, list | tuple)
        or len(value) != n
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)
    ):
        raise ConfigError(
            f"{key} must be a list of {n} non-negative integers, got {value!r}", key=key
        )
    return tuple(value)


def _flag(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{key} must be true or false, got {value!r}", key=key)
    return value


def _whole(value: Any, key: str, low: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ConfigError(f"{key} must be an integer of at least {low}, got {value!r}", key=key)
    return value


def _is_count(task: TaskConfig) -> bool:
    """Whether the target counts something (12345 tickets): counted from events, or a signal
    measured in counts."""
    sig = SIGNALS.get(task.target.signal)
    return task.target.events is not None or (sig is not None and sig.unit == "count")


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# --- the forecasters -------------------------------------------------------------------------


class _StatisticalForecaster:
    family: str
    _allowed: frozenset[str]

    def __init__(self, *, task: TaskConfig, spec: FeatureSpec, **params: Any) -> None:
        unknown = set(params) - self._allowed
        if unknown:
            raise ConfigError(
                f"unknown {self.family} parameters {sorted(unknown)}; allowed: "
                f"{sorted(self._allowed)}",
                key="model.params",
            )
        self.task, self.spec = task, spec
        step = task.step
        fit_default, filter_default = _default_durations(step)
        p = {
            "fit_window": fit_default,
            "filter_window": filter_default,
            "max_gap": format_duration(6 * step),
            "intervals": "negbin" if _is_count(task) else "empirical",
            "n_jobs": available_cores(),
            **self._defaults(step),
            **params,
        }
        if p["intervals"] not in INTERVALS:
            raise ConfigError(
                f"intervals must be one of {list(INTERVALS)}, got {p['intervals']!r}",
                key="model.params.intervals",
            )
        self.n_jobs = _whole(p["n_jobs"], "model.params.n_jobs", 1)
        self._params = p
        self.config = self._config(
            p,
            family=self.family,
            fit_steps=_steps(p["fit_window"], step, "model.params.fit_window"),
            filter_steps=_steps(p["filter_window"], step, "model.params.filter_window"),
            max_gap_steps=_steps(p["max_gap"], step, "model.params.max_gap"),
            intervals=p["intervals"],
            quantiles=tuple(task.quantiles),
            max_h=max(task.horizon_steps()),
            maxiter=_whole(p["maxiter"], "model.params.maxiter", 1),
            timezone=task.features.timezone,
        )
        self.history_span = self.config.filter_steps * step
        self.fitted_: dict[str, _Fitted] | None = None
        self.fallback_errors_: np.ndarray | None = None

    def _defaults(self, step: timedelta) -> dict[str, Any]:
        raise NotImplementedError

    def _config(self, p: dict[str, Any], **common: Any) -> _Config:
        raise NotImplementedError

    def params(self) -> dict[str, Any]:
        return dict(self._params)

    # fit ---------------------------------------------------------------------------------

    def fit(self, frame: pl.DataFrame, history: TargetHistory | None = None) -> Self:
        hist = require_history(history, self.family)
        cfg = self.config
        ids = frame["series_id"].unique(maintain_order=True).to_list()
        if not ids:
            raise DataError(f"the {self.family} forecaster got no series to fit")
        rows = hist.rows(ids)
        n_bins = hist.values.shape[1]
        first = max(0, n_bins - cfg.fit_steps)
        values = hist.values[rows, first:]
        first_abs = _absolute_bin(hist) + first
        exog = _exog(_grid_times(hist, first, n_bins - 1), cfg) if cfg.family == "sarimax" else None
        jobs = [(cfg, values[i], first_abs, exog) for i in range(len(ids))]
        fits = _map(_fit_series, jobs, self.n_jobs)
        self.fitted_ = dict(zip(ids, fits, strict=True))
        self.fallback_errors_ = _persistence_errors(values, cfg)
        return self

    # predict -----------------------------------------------------------------------------

    def predict(self, frame: pl.DataFrame, history: TargetHistory | None = None) -> pl.DataFrame:
        require_fitted(self.fitted_ is not None, self.family)
        assert self.fitted_ is not None and self.fallback_errors_ is not None
        hist = require_history(history, self.family)
        cfg = self.config
        qcols = [quantile_column(q) for q in cfg.quantiles]
        keys = frame.select(FORECAST_KEYS)
        if keys.is_empty():
            return keys.with_columns(
                pl.lit(self.family).alias("model"),
                *(pl.lit(None, dtype=pl.Float64).alias(c) for c in ("yhat", *qcols)),
            )
        step = hist.step
        horizons = keys["horizon"].unique().sort()
        h_steps = np.array([_steps(int(h.total_seconds()), step, "horizon") for h in horizons])
        if h_steps.max() > cfg.max_h:
            raise DataError(
                f"a horizon of {format_duration(horizons[-1])} is beyond the task's longest, "
                f"which the {self.family} model was fitted for"
            )
        pairs = keys.select("series_id", "origin").unique().sort("series_id", "origin")
        pairs = pairs.with_columns(
            pl.Series("_bin", hist.bins(pairs["origin"]), dtype=pl.Int64),
            pl.Series("_row", hist.rows(pairs["series_id"]), dtype=pl.Int64),
        )
        if (pairs["_bin"] < 0).any():
            raise DataError(f"history starts at {hist.start}, after an origin to forecast")
        lo = max(0, int(pairs["_bin"].min()) - cfg.filter_steps + 1)
        hi = int(pairs["_bin"].max()) + cfg.max_h
        exog = _exog(_grid_times(hist, lo, hi), cfg) if cfg.family == "sarimax" else None
        base_abs = _absolute_bin(hist)
        jobs, groups = [], []
        for (sid,), group in pairs.group_by(["series_id"], maintain_order=True):
            bins = group["_bin"].to_numpy()
            windows = hist.windows(group["_row"].to_numpy(), bins, cfg.filter_steps)
            fitted = self.fitted_.get(sid) or _Fitted(reason="not in the fit")
            jobs.append((cfg, fitted, windows, bins + base_abs, h_steps, exog, lo + base_abs))
            groups.append(group)
        # vectorised forecasts run at about a million window steps a second: below some
        # seconds of work a pool's start-up and transfers cost more than they save (measured)
        big = pairs.height * cfg.filter_steps >= PREDICT_POOL_MIN_STEPS
        outputs = _map(_forecast_series, jobs, self.n_jobs if big else 1)
        parts = []
        for group, (point, quants, fell_back) in zip(groups, outputs, strict=True):
            if fell_back:
                quants = point[:, :, None] + self.fallback_errors_[h_steps - 1][None, :, :]
            n_o, n_h = point.shape
            parts.append(
                pl.DataFrame(
                    {
                        "series_id": group["series_id"].gather(np.repeat(np.arange(n_o), n_h)),
                        "origin": group["origin"].gather(np.repeat(np.arange(n_o), n_h)),
                        "horizon": horizons.gather(np.tile(np.arange(n_h), n_o)),
                        "yhat": point.ravel(),
                        **{c: quants[:, :, j].ravel() for j, c in enumerate(qcols)},
                    }
                )
            )
        table = pl.concat(parts)
        sig = SIGNALS.get(self.task.target.signal)
        clip = [
            pl.col(c).clip(sig.low, sig.high) if sig is not None else pl.col(c)
            for c in ("yhat", *qcols)
        ]
        out = keys.join(
            table.with_columns(clip),
            on=["series_id", "origin", "horizon"],
            how="left",
            maintain_order="left",
        )
        return out.with_columns(monotone(qcols)).select(
            *FORECAST_KEYS, pl.lit(self.family).alias("model"), "yhat", *qcols
        )

    def fit_summary(self) -> pl.DataFrame:
        """One row per fitted series: the model kept, whether it fell back (and why)."""
        require_fitted(self.fitted_ is not None, self.family)
        assert self.fitted_ is not None
        return pl.DataFrame(
            [
                {
                    "series_id": sid,
                    "fallback": f.kind == "fallback",
                    "reason": f.reason,
                    "points": f.points,
                    "converged": f.converged,
                    "season_steps": f.season_steps,
                }
                for sid, f in self.fitted_.items()
            ]
        )


class EtsForecaster(_StatisticalForecaster):
    """ETS with additive error per series (statsmodels ``ETSModel``); see the module docstring.

    Parameters (``model.params``): ``season`` (duration or null; default 1d, 7d on a daily grid;
    skipped when longer than 288 steps or the data holds fewer than 3 periods),
    ``select_season`` (true: kept per series only where it lowers the AIC), ``trend`` (false),
    ``damped`` (true; with a trend), ``fit_window``, ``filter_window``, ``max_gap``,
    ``intervals``, ``maxiter`` (200), ``n_jobs``.
    """

    family = "ets"
    _allowed = frozenset(_ETS_PARAMS)

    def _defaults(self, step: timedelta) -> dict[str, Any]:
        return {
            "season": "1d" if step < timedelta(days=1) else "7d",
            "select_season": True,
            "trend": False,
            "damped": True,
            "maxiter": 200,
        }

    def _config(self, p: dict[str, Any], **common: Any) -> _Config:
        season = 0
        if p["season"] not in (None, "none"):
            season = _steps(p["season"], self.task.step, "model.params.season")
        if season < 2 or season > MAX_SEASON_STEPS:
            season = 0
        return _Config(
            season_steps=season,
            select_season=_flag(p["select_season"], "model.params.select_season"),
            trend=_flag(p["trend"], "model.params.trend"),
            damped=_flag(p["damped"], "model.params.damped"),
            **common,
        )


class SarimaxForecaster(_StatisticalForecaster):
    """SARIMAX per series with known-ahead calendar regressors; see the module docstring.

    Parameters (``model.params``): ``order`` ([2, 0, 0]), ``seasonal_order`` ([0, 0, 0]; its
    period is ``season``, default 1d), ``fourier`` (3 daily harmonics; 0 for none),
    ``calendar`` ([holiday, workday]; any of holiday, workday, school_term), ``fit_window``,
    ``filter_window``, ``max_gap`` (unused: the Kalman filter skips gaps), ``intervals``,
    ``joint`` (false: two-step estimation), ``maxiter`` (50), ``n_jobs``. On ponding depth the
    defaults revert towards a mean that glitches pull up; ``order: [2, 1, 0]``, ``fourier: 0``
    and ``calendar: []`` forecast it like persistence (measured: MAE 0.32 cm against 0.12).
    """

    family = "sarimax"
    _allowed = frozenset(_SARIMAX_PARAMS)

    def _defaults(self, step: timedelta) -> dict[str, Any]:
        return {
            "order": [2, 0, 0],
            "seasonal_order": [0, 0, 0],
            "season": "1d" if step < timedelta(days=1) else "7d",
            "fourier": 3,
            "calendar": ["holiday", "workday"],
            "joint": False,
            "maxiter": 50,
        }

    def _config(self, p: dict[str, Any], **common: Any) -> _Config:
        step = self.task.step
        order = _int_tuple(p["order"], 3, "model.params.order")
        seasonal = _int_tuple(p["seasonal_order"], 3, "model.params.seasonal_order")
        season = _steps(p["season"], step, "model.params.season") if any(seasonal) else 0
        if any(seasonal) and season < 2:
            raise ConfigError(
                f"a seasonal order needs a season of at least 2 steps, got {p['season']!r}",
                key="model.params.season",
            )
        fourier = _whole(p["fourier"], "model.params.fourier", 0)
        per_day = int(timedelta(days=1) / step) if step < timedelta(days=1) else 1
        fourier = min(fourier, per_day // 2)
        calendar = p["calendar"] or []
        bad = [c for c in calendar if c not in CALENDAR_REGRESSORS]
        if not isinstance(calendar, list | tuple) or bad:
            raise ConfigError(
                f"calendar regressors must be among {list(CALENDAR_REGRESSORS)}, got {calendar!r}",
                key="model.params.calendar",
            )
        return _Config(
            season_steps=season,
            order=order,
            seasonal_order=seasonal,
            fourier=fourier,
            calendar=tuple(calendar),
            joint=_flag(p["joint"], "model.params.joint"),
            **common,
        )


# --- fitted state ----------------------------------------------------------------------------


@dataclass
class _Fitted:
    """One series' fitted model as plain arrays (``kind``: ets, sarimax or fallback)."""

    kind: str = "fallback"
    reason: str = ""
    points: int = 0
    converged: bool | None = None
    season_steps: int = 0
    median: float = float("nan")
    scale: float = 0.0  # forecast error variance (ETS) or the concentrated scale (SARIMAX)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    numbers: dict[str, float] = field(default_factory=dict)
    errors: np.ndarray | None = None  # (max_h, n_q) empirical error quantiles per step
    dispersion: np.ndarray | None = None  # (max_h,) negative-binomial dispersion per step


# --- time and exogenous regressors -----------------------------------------------------------


def _absolute_bin(hist: TargetHistory) -> int:
    """The index of the history's first bin on the step grid counted from the Unix epoch."""
    step_us = int(hist.step / timedelta(microseconds=1))
    return int(hist.start.timestamp() * 1_000_000) // step_us


def _grid_times(hist: TargetHistory, first: int, last: int) -> pl.Series:
    return pl.datetime_range(
        hist.start + first * hist.step,
        hist.start + last * hist.step,
        hist.step,
        time_unit="us",
        time_zone="UTC",
        eager=True,
    ).alias("ts")


def _exog(ts: pl.Series, cfg: _Config) -> np.ndarray:
    """The known-ahead regressors at each time: constant, daily Fourier terms, calendar flags."""
    local = ts.dt.convert_time_zone(cfg.timezone)
    day = (
        local.dt.hour().cast(pl.Float64) * 3600
        + local.dt.minute().cast(pl.Float64) * 60
        + local.dt.second().cast(pl.Float64)
    ).to_numpy() / 86_400.0
    cols = [np.ones(ts.len())]
    for k in range(1, cfg.fourier + 1):
        cols += [np.sin(2 * np.pi * k * day), np.cos(2 * np.pi * k * day)]
    if cfg.calendar:
        flags = ts.to_frame().select(calendar_columns(cfg.calendar, tz=cfg.timezone)).to_numpy()
        cols += list(flags.astype(np.float64).T)
    return np.column_stack(cols)


# --- parallel map ----------------------------------------------------------------------------

_POOLS: dict[int, Executor] = {}
_STATSMODELS = ("statsmodels.tsa.statespace.sarimax", "statsmodels.tsa.exponential_smoothing.ets")


def _pool(n_jobs: int) -> Executor:
    pool = _POOLS.get(n_jobs)
    if pool is None:
        # forkserver (spawn elsewhere): forking a process that runs Polars' thread pool can
        # deadlock; the pool is kept for the process's life, so its start-up is paid once
        method = (
            "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        )
        context = multiprocessing.get_context(method)
        if method == "forkserver":
            # the workers fork from a server that imported this module and statsmodels once
            context.set_forkserver_preload([__name__, *_STATSMODELS])
        pool = ProcessPoolExecutor(n_jobs, mp_context=context)
        _POOLS[n_jobs] = pool
    return pool


@atexit.register
def _close_pools() -> None:
    for pool in _POOLS.values():
        pool.shutdown(wait=False, cancel_futures=True)
    _POOLS.clear()


def _one_blas_thread() -> contextlib.AbstractContextManager[Any]:
    """BLAS on one thread: the matrices here are tiny, and OpenBLAS threads fighting over
    busy cores made a statsmodels likelihood ten times slower (measured). threadpoolctl comes
    with scikit-learn (an MLflow dependency); without it the limit is skipped."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _limited(fn: Callable[..., Any], *args: Any) -> Any:
    with _one_blas_thread():
        return fn(*args)


def _map(fn: Callable[..., Any], jobs: Sequence[tuple], n_jobs: int) -> list[Any]:
    """``fn(*job)`` for each job, in order; in a process pool when it pays."""
    if n_jobs <= 1 or len(jobs) < POOL_MIN_SERIES:
        with _one_blas_thread():
            return [fn(*job) for job in jobs]
    try:
        futures = [_pool(n_jobs).submit(_limited, fn, *job) for job in jobs]
        return [f.result() for f in futures]
    except Exception as err:  # a broken pool is replaced on the next call
        from concurrent.futures.process import BrokenProcessPool

        if isinstance(err, BrokenProcessPool):
            _POOLS.pop(n_jobs, None)
        raise


# --- fitting one series ----------------------------------------------------------------------


def _trim(y: np.ndarray) -> tuple[np.ndarray, int]:
    """``y`` without leading and trailing missing bins, and the offset of its first bin."""
    seen = np.flatnonzero(np.isfinite(y))
    if seen.size == 0:
        return y[:0], 0
    return y[seen[0] : seen[-1] + 1], int(seen[0])


def _complete_stretch(y: np.ndarray, max_gap: int, min_points: int) -> tuple[np.ndarray, int]:
    """Gaps up to ``max_gap`` interpolated; the stretch after the last longer gap (or the
    longest stretch, if that one is shorter than ``min_points``) and its offset in ``y``."""
    missing = ~np.isfinite(y)
    if not missing.any():
        return y, 0
    idx = np.arange(y.size)
    filled = y.copy()
    filled[missing] = np.interp(idx[missing], idx[~missing], y[~missing])
    # runs of missing bins longer than max_gap stay missing
    edges = np.diff(np.concatenate([[0], missing.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    long_runs = [(s, e) for s, e in zip(starts, ends, strict=True) if e - s > max_gap]
    if not long_runs:
        return filled, 0
    bounds = [0, *[b for s, e in long_runs for b in (s, e)], y.size]
    stretches = [(bounds[i], bounds[i + 1]) for i in range(0, len(bounds), 2)]
    last = stretches[-1]
    if last[1] - last[0] >= min_points:
        return filled[last[0] : last[1]], last[0]
    best = max(stretches, key=lambda s: s[1] - s[0])
    return filled[best[0] : best[1]], best[0]


def _fit_series(
    cfg: _Config, values: np.ndarray, first_abs: int, exog: np.ndarray | None
) -> _Fitted:
    """Fit one series (runs in a worker): its model, or the persistence fallback and why."""
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
                fitted = _fit_ets(cfg, y, first_abs + offset)
            else:
                assert exog is not None
                fitted = _fit_sarimax(cfg, y, exog[offset : offset + y.size])
    except Exception as err:  # one sensor's failed fit must not fail the task: it falls back
        reason = f"fit failed: {type(err).__name__}: {err}"
        return _Fitted(reason=reason, points=observed.size, median=median)
    fitted.median = median
    if not (np.isfinite(fitted.scale) and fitted.scale > 0) or not all(
        np.isfinite(a).all() for a in fitted.arrays.values()
    ):
        return _Fitted(reason="zero or non-finite variance", points=observed.size, median=median)
    if cfg.intervals != "gaussian":
        point, future = _in_sample(cfg, fitted, values, first_abs, exog)
        if cfg.intervals == "empirical":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a step never observed: NaN
                fitted.errors = np.nanquantile(future - point, cfg.quantiles, axis=0).T
        else:
            fitted.dispersion = _dispersion(point, future)
    return fitted


def _fit_ets(cfg: _Config, y: np.ndarray, first_abs: int) -> _Fitted:
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    y, start = _complete_stretch(y, cfg.max_gap_steps, cfg.min_points)
    first_abs += start
    if y.size < MIN_POINTS:
        raise ValueError(f"only {y.size} consecutive points")
    m = cfg.season_steps if cfg.season_steps and y.size >= 3 * cfg.season_steps else 0
    best: tuple[float, Any, Any, int] | None = None
    for periods in [m, 0] if m and cfg.select_season else [m]:
        candidate = ETSModel(
            y,
            error="add",
            trend="add" if cfg.trend else None,
            damped_trend=cfg.trend and cfg.damped,
            seasonal="add" if periods else None,
            seasonal_periods=periods or None,
            initialization_method="heuristic",
        )
        fitted = candidate.fit(disp=False, maxiter=cfg.maxiter)
        # the heuristic's initial seasonal states are estimates too: count them in the AIC
        score = fitted.aic + 2 * max(periods - 1, 0) if fitted.mse > 0 else np.inf
        if best is None or score < best[0]:
            best = (score if np.isfinite(score) else np.inf, candidate, fitted, periods)
    assert best is not None
    _, model, res, m = best
    p = dict(zip(res.param_names, np.asarray(res.params, dtype=float), strict=True))
    numbers = {
        "alpha": p["smoothing_level"],
        "beta": p.get("smoothing_trend", 0.0),
        "gamma": p.get("smoothing_seasonal", 0.0),
        "phi": p.get("damping_trend", 1.0),
    }
    season = np.zeros(max(m, 1))
    if m:
        # statsmodels' initial_seasonal[j] is the season of the j-th bin; store it by phase
        season[(first_abs + np.arange(m)) % m] = np.asarray(model.initial_seasonal, dtype=float)
    start_state = {
        "level": np.array([float(model.initial_level)]),
        "trend": np.array([float(model.initial_trend or 0.0)]),
        "season": season[None, :],
    }
    level, trend, season_end = _ets_filter(
        numbers, m, start_state, y[None, :], np.array([first_abs])
    )
    return _Fitted(
        kind="ets",
        points=y.size,
        converged=bool(res.mle_retvals.get("converged", True)) if res.mle_retvals else None,
        season_steps=m,
        scale=float(res.mse),
        arrays={"level": level, "trend": trend, "season": season_end[0]},
        numbers=numbers,
    )


def _difference(a: np.ndarray, d: int, seasonal_d: int, season: int) -> np.ndarray:
    """``a`` differenced ``d`` times and seasonally ``seasonal_d`` times along its first axis."""
    for _ in range(d):
        a = a[1:] - a[:-1]
    for _ in range(seasonal_d):
        a = a[season:] - a[:-season]
    return a


def _fit_sarimax(cfg: _Config, y: np.ndarray, exog: np.ndarray) -> _Fitted:
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


def _in_sample(
    cfg: _Config, fitted: _Fitted, values: np.ndarray, first_abs: int, exog: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """The fitted model's forecasts of its own fit data from strided origins, and what came:
    ``(origins, max_h)`` each (NaN where unknown)."""
    n = values.size
    last = n - 1 - cfg.max_h
    if last < 1:
        empty = np.full((1, cfg.max_h), np.nan)
        return empty, empty
    stride = max(1, last // EMPIRICAL_ORIGINS)
    origins = np.arange(last, 0, -stride)[::-1]
    padded = np.concatenate([np.full(cfg.filter_steps - 1, np.nan), values])
    cols = origins[:, None] + np.arange(cfg.filter_steps)[None, :]
    windows = padded[cols]
    point, _ = _model_forecast(
        cfg, fitted, windows, origins + first_abs, np.arange(1, cfg.max_h + 1), exog, first_abs
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


def _persistence_errors(values: np.ndarray, cfg: _Config) -> np.ndarray:
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


def _forecast_series(
    cfg: _Config,
    fitted: _Fitted,
    windows: np.ndarray,
    origin_abs: np.ndarray,
    h_steps: np.ndarray,
    exog: np.ndarray | None,
    exog_first_abs: int,
) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """Point forecasts ``(origins, horizons)`` and quantiles ``(origins, horizons, q)`` of one
    series (runs in a worker); a fallback returns no quantiles (the caller adds the pooled
    persistence errors)."""
    if fitted.kind == "fallback":
        return _persistence(windows, fitted.median, h_steps.size), None, True
    point, sd = _model_forecast(cfg, fitted, windows, origin_abs, h_steps, exog, exog_first_abs)
    gaussian = point[:, :, None] + sd[:, :, None] * cfg.z[None, None, :]
    if cfg.intervals == "negbin" and fitted.dispersion is not None:
        return _negbin(cfg, point, fitted.dispersion[h_steps - 1], gaussian)
    if cfg.intervals == "gaussian" or fitted.errors is None:
        return point, gaussian, False
    errors = fitted.errors[h_steps - 1]  # (horizons, q)
    quants = np.where(
        np.isfinite(errors)[None, :, :], point[:, :, None] + errors[None, :, :], gaussian
    )
    mid = np.interp(0.5, cfg.quantiles, np.arange(len(cfg.quantiles)))
    median = _interp_columns(quants, mid)
    return median, quants, False


def _negbin(
    cfg: _Config, point: np.ndarray, alpha: np.ndarray, gaussian: np.ndarray
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Quantiles of a negative binomial with the forecast as its mean and the step's
    dispersion (Poisson where not over-dispersed); the point forecast is its median."""
    from scipy import stats

    mu = np.clip(point, 1e-9, None)
    a = np.broadcast_to(alpha[None, :], mu.shape)
    n = 1.0 / np.where(a > 1e-6, a, 1.0)
    out = []
    for q in (*cfg.quantiles, 0.5):
        value = np.where(
            a > 1e-6, stats.nbinom.ppf(q, n, n / (n + mu)), stats.poisson.ppf(q, mu)
        ).astype(np.float64)
        out.append(value)
    quants = np.stack(out[:-1], axis=2)
    quants = np.where(np.isfinite(a)[:, :, None], quants, gaussian)  # a step never observed
    return np.where(np.isfinite(a), out[-1], point), quants, False


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
    exog: np.ndarray | None,
    exog_first_abs: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation ``(origins, horizons)`` after filtering each window."""
    first_abs = origin_abs - windows.shape[1] + 1
    if fitted.kind == "ets":
        return _ets_forecast(fitted, windows, first_abs, h_steps)
    assert exog is not None
    return _sarimax_forecast(fitted, windows, first_abs, h_steps, exog, exog_first_abs)


def _ets_filter(
    p: dict[str, float],
    m: int,
    start: dict[str, np.ndarray],
    windows: np.ndarray,
    first_abs: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The additive-error ETS recursion over each window row from the given start states;
    a missing value leaves the states to the model (its error counts as zero)."""
    alpha, beta, gamma, phi = p["alpha"], p["beta"], p["gamma"], p["phi"]
    n = windows.shape[0]
    level = np.broadcast_to(start["level"], (n,)).copy()
    trend = np.broadcast_to(start["trend"], (n,)).copy()
    season = np.broadcast_to(start["season"], (n, start["season"].shape[-1])).copy()
    rows = np.arange(n)
    for j in range(windows.shape[1]):
        phase = (first_abs + j) % m if m else np.zeros(n, dtype=np.int64)
        s = season[rows, phase]
        base = level + phi * trend
        e = windows[:, j] - base - s
        e = np.where(np.isfinite(e), e, 0.0)
        level = base + alpha * e
        trend = phi * trend + beta * e
        if m:
            season[rows, phase] = s + gamma * e
    return level, trend, season


def _ets_forecast(
    fitted: _Fitted, windows: np.ndarray, first_abs: np.ndarray, h_steps: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    p, m = fitted.numbers, fitted.season_steps
    start = {
        "level": fitted.arrays["level"],
        "trend": fitted.arrays["trend"],
        "season": fitted.arrays["season"][None, :],
    }
    level, trend, season = _ets_filter(p, m, start, windows, first_abs)
    origin_abs = first_abs + windows.shape[1] - 1
    phi, alpha, beta, gamma = p["phi"], p["alpha"], p["beta"], p["gamma"]
    h_max = int(h_steps.max())
    j = np.arange(1, h_max + 1, dtype=float)
    damp = np.cumsum(phi**j)  # phi + ... + phi^h
    mean = level[:, None] + damp[None, h_steps - 1] * trend[:, None]
    if m:
        phase = (origin_abs[:, None] + h_steps[None, :]) % m
        mean = mean + season[np.arange(level.size)[:, None], phase]
    # Hyndman et al. (2008), class 1: var_h = sigma2 (1 + sum_{j<h} c_j^2)
    trend_part = beta * (phi * (1 - phi**j) / (1 - phi) if phi < 1 else j)
    c = alpha + trend_part + (gamma * (j % m == 0) if m else 0.0)
    var = fitted.scale * (1 + np.concatenate([[0.0], np.cumsum(c[:-1] ** 2)]))
    sd = np.broadcast_to(np.sqrt(var[h_steps - 1]), mean.shape)
    return mean, sd


def _sarimax_forecast(
    fitted: _Fitted,
    windows: np.ndarray,
    first_abs: np.ndarray,
    h_steps: np.ndarray,
    exog: np.ndarray,
    exog_first_abs: int,
) -> tuple[np.ndarray, np.ndarray]:
    a = fitted.arrays
    n, length = windows.shape
    offset = exog @ a["beta"]  # the regression part of each bin of the exog span
    cols = (first_abs - exog_first_abs)[:, None] + np.arange(length)[None, :]
    inside = cols >= 0
    intercept = np.where(inside, offset[np.clip(cols, 0, None)], 0.0)
    mean = np.empty((n, h_steps.size))
    var = np.empty((n, h_steps.size))
    gaps = ~np.isfinite(windows).all(axis=1)
    for rows in (np.flatnonzero(~gaps), np.flatnonzero(gaps)):
        if rows.size:
            state, cov = _kalman(a, windows[rows] - intercept[rows], shared=not gaps[rows[0]])
            m_, v_ = _kalman_ahead(a, state, cov, int(h_steps.max()))
            future = first_abs[rows, None] + length - 1 + h_steps[None, :] - exog_first_abs
            mean[rows] = m_[:, h_steps - 1] + offset[future]
            var[rows] = v_[:, h_steps - 1] if v_.shape[0] == rows.size else v_[0, h_steps - 1]
    return mean, np.sqrt(np.maximum(var * fitted.scale, 0.0))


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
