"""Statistical forecasters per series: the base both statsmodels families share.

``ets`` (exponential smoothing) and ``sarimax`` fit one model per series on the target's dense
history (:class:`features.history.TargetHistory`) and forecast every horizon from every origin
of the frame. This module is their shared face (the parameters common to both, fit and predict
over a frame, the summary); the families build on it, and the pieces it runs live beside it:

* :mod:`models.ets_forecaster`, :mod:`models.sarimax_forecaster`: the two families, their own
  parameters and SARIMAX's regressors (calendar, Fourier terms, rain), which the base asks for
  through hooks that give none here (``_fit_regressors``, ``_predict_regressors``,
  ``_history_lead``); :mod:`models.series_params`: the parameters' defaults and checks;
* :mod:`models.per_series`: one series' fit and forecast as a worker runs them, the
  persistence fallback and the quantiles (``intervals``: empirical, negbin, gaussian);
* :mod:`models.ets`, :mod:`models.sarimax`, :mod:`models.exogenous`: the models, fitted by
  statsmodels and filtered and forecast with numpy, and SARIMAX's regressors;
* :mod:`models.series_pool`, :mod:`models.series_state`: the process pool, and the
  configuration and fitted state as plain picklable data.

Fit, per series of the fit frame, on the last ``fit_window`` of history (which ends before the
first target time the model must not see). Series unseen in fit fall back to persistence, and
``fit_summary`` says which series fell back and why.

Predict, per series, for all origins of the frame at once (vectorised over origins): the model
restarts ``filter_window`` before each origin and is filtered with the fitted parameters over
the window up to and including the origin's bin, then forecast. A forecast therefore depends
only on the fitted model and the ``history_span`` of history up to its origin, never on
anything after it, and serving, which hands the model exactly that, reproduces the backtest.
Missing bins in the window are skipped (the state is carried forward by the model). All values
are clipped to the signal's physical range and sorted across quantiles. With a few origins a
series (serving's one) the series are forecast together instead, the SARIMAX ones through one
Kalman filter with a state space per row (:func:`models.per_series.forecast_together`): a
series at a time, the Python loop over the filter window cost more than its arithmetic.

Models are pickled into MLflow, and pickles name ``models.statistical.EtsForecaster``,
``.SarimaxForecaster``, ``._Config`` and ``._Fitted``: all four stay importable from here.
``_Config`` and ``_Fitted`` (defined in :mod:`models.series_state`, since the workers need
them) are imported by those names; the two forecasters, whose modules import this one, are
re-exported on first access by the module's ``__getattr__`` (which pickle's lookup goes
through). The fitted state is plain numpy (no statsmodels results), so a model pickles small
and predicts identically after loading.
"""

from __future__ import annotations

import importlib
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Self

import numpy as np
import polars as pl

from features import (
    CHINA_ONLY,
    SIGNALS,
    ConfigError,
    DataError,
    FeatureSpec,
    TargetHistory,
    TaskConfig,
    format_duration,
    thread_budget,
)
from models.exogenous import absolute_bin
from models.per_series import (
    fit_series,
    forecast_series,
    forecast_together,
    persistence_errors,
)
from models.protocol import FORECAST_KEYS, require_fitted, require_history
from models.quantiles import monotone, quantile_column
from models.series_params import (
    INTERVALS,
    check_integer,
    default_windows,
    is_count,
    whole_steps,
)
from models.series_pool import map_jobs

# defined with the fitted state, imported by these names: pickled models refer to them here
from models.series_state import _Config, _Fitted

if TYPE_CHECKING:
    from models.ets_forecaster import EtsForecaster as EtsForecaster
    from models.sarimax_forecaster import SarimaxForecaster as SarimaxForecaster

PREDICT_POOL_MIN_STEPS = 10_000_000  # window steps (origins x filter_window) of one predict
# at most this many origins a series on average: the series are forecast together in this
# process (serving's one origin each), not one by one
TOGETHER_MAX_ORIGINS = 4

# the family classes defined beside this module, re-exported by name (see the docstring)
_FAMILIES = {
    "EtsForecaster": "models.ets_forecaster",
    "SarimaxForecaster": "models.sarimax_forecaster",
}


class _StatisticalForecaster:
    """What both families share. A family sets ``family`` and ``_allowed`` and defines
    ``_defaults`` and ``_config``; one with regressors overrides the hooks that give none."""

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
        fit_default, filter_default = default_windows(step)
        p = {
            "fit_window": fit_default,
            "filter_window": filter_default,
            "max_gap": format_duration(6 * step),
            "intervals": "negbin" if is_count(task) else "empirical",
            "n_jobs": thread_budget(),
            **self._defaults(step),
            **params,
        }
        if p["intervals"] not in INTERVALS:
            raise ConfigError(
                f"intervals must be one of {list(INTERVALS)}, got {p['intervals']!r}",
                key="model.params.intervals",
            )
        self.n_jobs = check_integer(p["n_jobs"], "model.params.n_jobs", 1)
        self._params = p
        self.config = self._config(
            p,
            family=self.family,
            fit_steps=whole_steps(p["fit_window"], step, "model.params.fit_window"),
            filter_steps=whole_steps(p["filter_window"], step, "model.params.filter_window"),
            max_gap_steps=whole_steps(p["max_gap"], step, "model.params.max_gap"),
            intervals=p["intervals"],
            quantiles=tuple(task.quantiles),
            max_h=max(task.horizon_steps()),
            maxiter=check_integer(p["maxiter"], "model.params.maxiter", 1),
            timezone=task.features.timezone,
            days=task.features.days,
        )
        china_only = sorted(CHINA_ONLY & set(self.config.calendar))
        if china_only and task.features.country != "CN":
            raise ConfigError(
                f"calendar regressors {china_only} are China's; a task on "
                f"{task.features.country}'s calendar may use holiday and workday",
                key="model.params.calendar",
            )
        self.history_span = (self.config.filter_steps + self._history_lead()) * step
        self.fitted_: dict[str, _Fitted] | None = None
        self.fallback_errors_: np.ndarray | None = None

    @property
    def history_covariates(self) -> tuple[str, ...]:
        """The observed covariates the model reads step by step beside the target history:
        none unless a family says otherwise."""
        return ()

    def _history_lead(self) -> int:
        """Steps of history before the filter window that a forecast reads (0: none)."""
        return 0

    def _defaults(self, step: timedelta) -> dict[str, Any]:
        raise NotImplementedError

    def _config(self, p: dict[str, Any], **common: Any) -> _Config:
        raise NotImplementedError

    def _fit_regressors(
        self,
        frame: pl.DataFrame,
        hist: TargetHistory,
        ids: list[str],
        rows: np.ndarray,
        first: int,
    ) -> list[tuple[Any, ...]]:
        """Per series of ``ids``, what its fit takes beside its values (the last arguments of
        :func:`models.per_series.fit_series`): no regressors unless a family has some."""
        return [(None, None)] * len(ids)

    def _predict_regressors(
        self,
        frame: pl.DataFrame,
        hist: TargetHistory,
        groups: list[pl.DataFrame],
        lo: int,
        hi: int,
    ) -> list[tuple[Any, ...]]:
        """Per group of one series' origins, what its forecast takes beside its windows over
        bins ``lo`` to ``hi`` (the last arguments of :func:`models.per_series.forecast_series`):
        no regressors unless a family has some."""
        return [(None,)] * len(groups)

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
        first_abs = absolute_bin(hist) + first
        given = self._fit_regressors(frame, hist, ids, rows, first)
        jobs = [(cfg, values[i], first_abs, *given[i]) for i in range(len(ids))]
        fits = map_jobs(fit_series, jobs, self.n_jobs)
        self.fitted_ = dict(zip(ids, fits, strict=True))
        self.fallback_errors_ = persistence_errors(values, cfg)
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
        h_steps = np.array([whole_steps(int(h.total_seconds()), step, "horizon") for h in horizons])
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
        origin_bins = pairs["_bin"].to_numpy()
        lo = max(0, int(origin_bins.min()) - cfg.filter_steps + 1)
        hi = int(origin_bins.max()) + cfg.max_h
        ids, groups = [], []
        for (sid,), group in pairs.group_by(["series_id"], maintain_order=True):
            ids.append(sid)
            groups.append(group)
        given = self._predict_regressors(frame, hist, groups, lo, hi)
        base_abs = absolute_bin(hist)
        jobs = []
        for sid, group, extra in zip(ids, groups, given, strict=True):
            bins = group["_bin"].to_numpy()
            windows = hist.windows(group["_row"].to_numpy(), bins, cfg.filter_steps)
            fitted = self.fitted_.get(sid) or _Fitted(reason="not in the fit")
            jobs.append((cfg, fitted, windows, bins + base_abs, h_steps, *extra))
        # vectorised forecasts run at about a million window steps a second: below some
        # seconds of work a pool's start-up and transfers cost more than they save (measured);
        # with a few origins a series (serving) the series are filtered together
        if pairs.height <= TOGETHER_MAX_ORIGINS * len(ids):
            outputs = forecast_together(jobs)
        else:
            big = pairs.height * cfg.filter_steps >= PREDICT_POOL_MIN_STEPS
            outputs = map_jobs(forecast_series, jobs, self.n_jobs if big else 1)
        return self._forecast_frame(keys, groups, outputs, horizons, h_steps)

    def _forecast_frame(
        self,
        keys: pl.DataFrame,
        groups: list[pl.DataFrame],
        outputs: list[tuple[np.ndarray, np.ndarray | None, bool]],
        horizons: pl.Series,
        h_steps: np.ndarray,
    ) -> pl.DataFrame:
        """The Forecast rows of ``keys`` from each group's forecasts: a fallback's quantiles
        from the pooled persistence errors, clipped to the signal's range, sorted."""
        assert self.fallback_errors_ is not None
        qcols = [quantile_column(q) for q in self.config.quantiles]
        points, quantiles = [], []
        for point, quants, fell_back in outputs:
            if fell_back:
                quants = point[:, :, None] + self.fallback_errors_[h_steps - 1][None, :, :]
            assert quants is not None  # a fitted model's own
            points.append(point)
            quantiles.append(quants)
        # every group's rows in one table: origins in group order, horizons within each
        point, quants = np.concatenate(points), np.concatenate(quantiles)
        n_o, n_h = point.shape
        origins = pl.concat([g.select("series_id", "origin") for g in groups])
        table = pl.DataFrame(
            {
                "series_id": origins["series_id"].gather(np.repeat(np.arange(n_o), n_h)),
                "origin": origins["origin"].gather(np.repeat(np.arange(n_o), n_h)),
                "horizon": horizons.gather(np.tile(np.arange(n_h), n_o)),
                "yhat": point.ravel(),
                **{c: quants[:, :, j].ravel() for j, c in enumerate(qcols)},
            }
        )
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


def __getattr__(name: str) -> Any:
    """``EtsForecaster`` and ``SarimaxForecaster`` by their old names here, imported on first
    access (their modules import this one, so this one cannot import them at the top)."""
    if name in _FAMILIES:
        return getattr(importlib.import_module(_FAMILIES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
