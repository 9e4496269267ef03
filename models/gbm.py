"""LightGBM: one global model per quantile over all series, horizon as a feature.

Direct multi-horizon: each row is (series, origin, horizon) with the target at origin +
horizon, so one booster per quantile learns every horizon at once and borrows strength across
sensors. By default the boosters learn the change from the current value (``target: delta``):
trees cannot extrapolate, and a storm deeper than any in the training history must still be
forecast at least at the depth it has already reached. ``target: level`` learns the value
itself, which serves long horizons of strongly cyclic signals better (hourly traffic volume a
day ahead owes little to the volume now). ``target: auto`` decides per horizon: two median
probes, one of each, are fitted on the training window less its last fifth of origins and
scored there, and each horizon learns the change where that probe's MAE was lower, the level
elsewhere, each group with its own boosters.

Quiet rows (target flat and staying flat) may be down-sampled in training with their weight
raised to match, which keeps hours of dry weather from drowning the storms; ``rise_weight``
weighs the rows whose target rose by the horizon up to that much more (event-weighted training
for a task whose warnings must lead rising water), by keeping calmer rows with a seeded
probability rather than by LightGBM weights, which double its time per tree.

For counts (12345 tickets per hour) ``objective: poisson`` fits one booster for the expected
count with LightGBM's Poisson loss (log link: it never forecasts a negative count) and reads the
quantiles off a negative binomial around it, whose dispersion is estimated per horizon from the
training residuals by moments (counts are over-dispersed: a storm brings tickets in bursts).
"""

from __future__ import annotations

from typing import Any, Self

import lightgbm as lgb
import numpy as np
import polars as pl

from features import SIGNALS, ConfigError, FeatureSpec, TargetHistory, TaskConfig, thread_budget
from models.protocol import FORECAST_KEYS, fitted, require_fitted, training_rows
from models.quantiles import monotone, quantile_column

# target: auto holds out the last fifth of the training origins to choose, given enough rows
_AUTO_HOLDOUT = 0.2
_AUTO_MIN_ROWS = 200

_ALLOWED = {
    "target",
    "n_estimators",
    "learning_rate",
    "num_leaves",
    "min_child_samples",
    "feature_fraction",
    "bagging_fraction",
    "bagging_freq",
    "lambda_l2",
    "max_depth",
    "min_split_gain",
    "objective",
    "n_jobs",
    "rise_weight",
}


class GradientBoostedForecaster:
    family = "lightgbm"

    def __init__(self, *, task: TaskConfig, spec: FeatureSpec, **params: Any) -> None:
        unknown = set(params) - _ALLOWED
        if unknown:
            raise ConfigError(
                f"unknown LightGBM parameters {sorted(unknown)}; allowed: {sorted(_ALLOWED)}",
                key="model.params",
            )
        self.task, self.spec = task, spec
        self._params = dict(params)
        self.target = self._params.pop("target", "delta")
        if self.target not in ("delta", "level", "auto"):
            raise ConfigError(
                f"target must be delta, level or auto, got {self.target!r}",
                key="model.params.target",
            )
        # horizons (minutes) that learn the change from now; the rest learn the level
        self.delta_horizons_: frozenset[int] = frozenset()
        self.level_boosters_: dict[float, lgb.Booster] = {}
        # threads per booster; 0 leaves it to OpenMP (all cores, or OMP_NUM_THREADS): tuning
        # workers sharing a host each set a share
        self.n_jobs = self._params.pop("n_jobs", 0)
        if isinstance(self.n_jobs, bool) or not isinstance(self.n_jobs, int) or self.n_jobs < 0:
            raise ConfigError(
                f"n_jobs must be a whole number >= 0, got {self.n_jobs!r}",
                key="model.params.n_jobs",
            )
        self.objective = self._params.pop("objective", "quantile")
        if self.objective not in ("quantile", "poisson"):
            raise ConfigError(
                f"objective must be quantile or poisson, got {self.objective!r}",
                key="model.params.objective",
            )
        if self.objective == "poisson":
            self.target = "level"  # a log-link count model learns the count itself
        # rows whose target rose by the horizon weigh up to this much more (1: all alike)
        self.rise_weight = float(self._params.pop("rise_weight", 1.0))
        if not self.rise_weight >= 1.0:
            raise ConfigError(
                f"rise_weight must be at least 1, got {self.rise_weight!r}",
                key="model.params.rise_weight",
            )
        self.boosters_: dict[float, lgb.Booster] | None = None
        self.dispersion_: dict[int, float] = {}

    def params(self) -> dict[str, Any]:
        return {
            **self._params,
            "target": self.target,
            "objective": self.objective,
            "rise_weight": self.rise_weight,
        }

    def _base(self, frame: pl.DataFrame, target: str | None = None) -> np.ndarray:
        """What the boosters' output is added to: the current value (0 if unknown) for
        ``delta``, 0 for ``level``."""
        if (target or self.target) == "level":
            return np.zeros(frame.height)
        return frame["target_now"].fill_null(0.0).to_numpy().astype(np.float64)

    def _learns_change(self, frame: pl.DataFrame) -> np.ndarray:
        """Per row: does its horizon learn the change from now (else the level)?"""
        if self.target != "auto":
            return np.full(frame.height, self.target == "delta")
        minutes = frame["horizon"].dt.total_minutes().to_numpy()
        return np.isin(minutes, list(self.delta_horizons_))

    def _fit_quantiles(
        self,
        x: np.ndarray,
        y: np.ndarray,
        weight: np.ndarray,
        rounds: int,
        quantiles: tuple[float, ...] | None = None,
    ) -> dict[float, lgb.Booster]:
        boosters = {}
        for q in quantiles or self.task.quantiles:
            data = lgb.Dataset(
                x,
                y,
                weight=weight,
                feature_name=list(self.spec.columns),
                categorical_feature=list(self.spec.categorical) or "auto",
                free_raw_data=True,
            )
            boosters[q] = lgb.train(self._lgb_params(q), data, num_boost_round=rounds)
        return boosters

    def _level_boosters(self) -> dict[float, lgb.Booster]:
        """The boosters of the level horizons (models pickled before ``auto`` learnt the level
        in ``boosters_``)."""
        return getattr(self, "level_boosters_", None) or self.boosters_ or {}

    def _choose_targets(self, rows: pl.DataFrame, weight: np.ndarray, rounds: int) -> None:
        """``target: auto``: per horizon, delta or level by a held-out median probe of each."""
        origins = rows["origin"].unique().sort()
        cut = origins[int(len(origins) * (1 - _AUTO_HOLDOUT))]
        early = (rows["ts"] <= cut).to_numpy()
        late = (rows["origin"] > cut).to_numpy()
        minutes = rows["horizon"].dt.total_minutes().to_numpy()
        horizons = np.unique(minutes)
        if early.sum() < _AUTO_MIN_ROWS or late.sum() < _AUTO_MIN_ROWS:
            self.delta_horizons_ = frozenset(int(h) for h in horizons)  # too little: default
            return
        x = rows.select(self.spec.columns).to_numpy().astype(np.float64)
        y = rows["y"].to_numpy().astype(np.float64)
        errors = {}
        for target in ("delta", "level"):
            base = self._base(rows, target)
            probe = self._fit_quantiles(
                x[early], (y - base)[early], weight[early], rounds, quantiles=(0.5,)
            )[0.5]
            errors[target] = np.abs(base[late] + probe.predict(x[late]) - y[late])
        self.delta_horizons_ = frozenset(
            int(h)
            for h in horizons
            if errors["delta"][minutes[late] == h].mean()
            <= errors["level"][minutes[late] == h].mean()
        )

    def _lgb_params(self, alpha: float) -> dict[str, Any]:
        p = {k: v for k, v in self._params.items() if k != "n_estimators"}
        p.update(
            objective="quantile",
            alpha=alpha,
            verbosity=-1,
            seed=self.task.train.seed,
            deterministic=True,
            force_row_wise=True,
            num_threads=self.n_jobs or thread_budget(),  # 0: the product's thread budget
        )
        return p

    def fit(self, frame: pl.DataFrame, history: TargetHistory | None = None) -> Self:
        rows = training_rows(frame)
        rows, weight = _down_sample_quiet(rows, self.task)
        if self.rise_weight > 1.0:
            rows, weight = _weigh_rises(rows, weight, self.rise_weight, self.task.train.seed)
        rounds = int(self._params.get("n_estimators", 300))
        if self.target == "auto" and self.objective == "quantile":
            self._choose_targets(rows, weight, rounds)
        x = rows.select(self.spec.columns).to_numpy().astype(np.float64)
        if self.objective == "poisson":
            y = rows["y"].to_numpy().astype(np.float64) - self._base(rows)
            return self._fit_poisson(rows, x, y, weight, rounds)
        # the change and the level are learnt by separate boosters: sharing trees, the small
        # changes and the large levels cost each other accuracy (measured on hourly volume)
        change = self._learns_change(rows)
        y = rows["y"].to_numpy().astype(np.float64) - np.where(change, self._base(rows, "delta"), 0)
        self.boosters_, self.level_boosters_ = {}, {}
        if change.any():
            self.boosters_ = self._fit_quantiles(x[change], y[change], weight[change], rounds)
        if not change.all():
            self.level_boosters_ = self._fit_quantiles(
                x[~change], y[~change], weight[~change], rounds
            )
        return self

    def predict(self, frame: pl.DataFrame, history: TargetHistory | None = None) -> pl.DataFrame:
        boosters = fitted(self.boosters_, self.family)
        x = frame.select(self.spec.columns).to_numpy().astype(np.float64)
        sig = SIGNALS.get(self.task.target.signal)
        qcols = [quantile_column(q) for q in self.task.quantiles]
        if self.objective == "poisson":
            preds = self._poisson_quantiles(frame, x)
        else:
            change = self._learns_change(frame)
            now = self._base(frame, "delta")
            preds = {}
            for q, c in zip(self.task.quantiles, qcols, strict=True):
                value = np.zeros(frame.height)
                if change.any():
                    value[change] = now[change] + boosters[q].predict(x[change])
                if not change.all():
                    value[~change] = self._level_boosters()[q].predict(x[~change])
                preds[c] = value
        if sig is not None:
            preds = {c: np.clip(v, sig.low, sig.high) for c, v in preds.items()}
        preds.pop("_mean", None)
        out = (
            frame.select(FORECAST_KEYS)
            .with_columns(pl.Series(c, v) for c, v in preds.items())
            .with_columns(monotone(qcols))
        )
        # the median is the point forecast for every objective (MAE is the primary metric)
        return out.with_columns(
            pl.col("q50").alias("yhat"), pl.lit(self.family).alias("model")
        ).select(*FORECAST_KEYS, "model", "yhat", *qcols)

    def _fit_poisson(
        self, rows: pl.DataFrame, x: np.ndarray, y: np.ndarray, weight: np.ndarray, rounds: int
    ) -> Self:
        params = self._lgb_params(0.5)
        params.update(objective="poisson")
        params.pop("alpha")
        data = lgb.Dataset(
            x,
            np.clip(y, 0.0, None),
            weight=weight,
            feature_name=list(self.spec.columns),
            categorical_feature=list(self.spec.categorical) or "auto",
            free_raw_data=True,
        )
        booster = lgb.train(params, data, num_boost_round=rounds)
        self.boosters_ = {0.5: booster}
        mu = booster.predict(x)
        minutes = rows["horizon"].dt.total_minutes().to_numpy()
        for h in np.unique(minutes):
            at = minutes == h
            m, r = mu[at], y[at] - mu[at]
            excess = float(np.mean(r**2) - np.mean(m))
            self.dispersion_[int(h)] = max(excess, 0.0) / max(float(np.mean(m**2)), 1e-9)
        return self

    def _poisson_quantiles(self, frame: pl.DataFrame, x: np.ndarray) -> dict[str, np.ndarray]:
        """Negative-binomial quantiles around the expected count (Poisson when not dispersed)."""
        from scipy import stats

        assert self.boosters_ is not None
        mu = np.clip(self.boosters_[0.5].predict(x), 1e-9, None)
        alpha = np.array(
            [
                self.dispersion_.get(int(h), 0.0)
                for h in frame["horizon"].dt.total_minutes().to_numpy()
            ]
        )
        out: dict[str, np.ndarray] = {"_mean": mu}
        for q in self.task.quantiles:
            poisson = stats.poisson.ppf(q, mu)
            # NB with mean mu, variance mu + alpha mu^2: n = 1 / alpha, p = n / (n + mu)
            n = 1.0 / np.where(alpha > 1e-6, alpha, 1.0)
            nbinom = stats.nbinom.ppf(q, n, n / (n + mu))
            out[quantile_column(q)] = np.where(alpha > 1e-6, nbinom, poisson).astype(np.float64)
        return out

    def feature_importance(self) -> pl.DataFrame:
        """Gain importance of the median model, largest first."""
        require_fitted(self.boosters_ is not None, self.family)
        booster = (self.boosters_ or self._level_boosters())[0.5]
        return pl.DataFrame(
            {
                "feature": booster.feature_name(),
                "gain": booster.feature_importance(importance_type="gain"),
            }
        ).sort("gain", descending=True)


def _rise_weights(rows: pl.DataFrame, most: float) -> np.ndarray:
    """Event-weighted training for warning tasks: a row weighs ``1 + (most - 1) * r``, where
    ``r`` is its rise by the horizon (``y - target_now``, 0 for a fall) as a share of the 95th
    percentile of the training rises (capped at 1). The trees then spend their splits on rising
    water, where a warning has to lead, rather than on the calm that fills most rows; the
    quantiles of a rising situation move up with it (the price: more warnings, counted by the
    backtest's false alarms)."""
    rise = (rows["y"] - rows["target_now"].fill_null(rows["y"])).to_numpy().astype(np.float64)
    rise = np.nan_to_num(np.maximum(rise, 0.0))
    positive = rise[rise > 0]
    if positive.size == 0:
        return np.ones(rows.height)
    scale = float(np.percentile(positive, 95)) or float(positive.max())
    return 1.0 + (most - 1.0) * np.minimum(rise / scale, 1.0)


def _weigh_rises(
    rows: pl.DataFrame, weight: np.ndarray, most: float, seed: int
) -> tuple[pl.DataFrame, np.ndarray]:
    """Rise weights (:func:`_rise_weights`) realised by seeded sampling: each row is kept with
    probability its rise weight over ``most``, so that rising rows count up to ``most`` times
    more in expectation while the weights passed to LightGBM stay as they were. Weighted
    quantile leaves cost LightGBM about twice the time (rivers: 61 s against 29 s a fit);
    sampling instead trains on fewer, calm-thinned rows."""
    keep = np.random.default_rng(seed).random(rows.height) < _rise_weights(rows, most) / most
    return rows.filter(pl.Series(keep)), weight[keep]


def _down_sample_quiet(rows: pl.DataFrame, task: TaskConfig) -> tuple[pl.DataFrame, np.ndarray]:
    """Keep every active row and a seeded share of quiet ones, re-weighted to stay unbiased.

    A row is quiet when the target has not moved over the longest target window and does not
    move by the horizon: nothing there to learn that a tenth of them cannot teach.
    """
    frac = task.train.quiet_fraction
    windows = [c for c in rows.columns if c.startswith("target_max_")]
    if frac >= 1.0 or not windows:
        return rows, np.ones(rows.height)
    spans = {f"target_max_{w}": w for w in task.features.target_maxes}
    longest = max(windows, key=spans.__getitem__)
    quiet = (pl.col("y") == pl.col("target_now")) & (pl.col(longest) == pl.col("target_now"))
    rng = np.random.default_rng(task.train.seed)
    keep_draw = pl.Series("_u", rng.random(rows.height))
    marked = rows.with_columns(quiet.fill_null(False).alias("_quiet"), keep_draw)
    kept = marked.filter(~pl.col("_quiet") | (pl.col("_u") < frac))
    weight = np.where(kept["_quiet"].to_numpy(), 1.0 / frac, 1.0)
    return kept.drop("_quiet", "_u"), weight
