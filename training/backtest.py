"""Rolling-origin backtest: refit before each fold, forecast its origins, never peek ahead.

The evaluated period is the last ``folds x fold_length`` of the data. For each fold the model
and the baseline are fitted on rows whose target time lies before the fold starts (so no target
inside the fold leaks into training), then forecast every origin in the fold.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
from tqdm.auto import tqdm

from features import (
    SIGNALS,
    CityTables,
    DataError,
    FeatureSpec,
    ModelSpec,
    SparseFeature,
    TargetHistory,
    TaskConfig,
    build_features,
    data_span,
    describe_sparse,
    estimate_travel,
    lookback,
    observed_targets,
    origin_range,
    sparse_features,
    target_history,
    task_tables,
    warning_thresholds,
)
from models import (
    CalibratedForecaster,
    Forecaster,
    build_forecaster,
    covariates_read,
    event_probability,
    family_class,
    fit_scales,
    with_exceedance,
)
from training.metrics import (
    EventSkill,
    LeadSkill,
    WarningSkill,
    brier_score,
    event_skill,
    lead_skill,
    mae_by_horizon,
    mase_scale,
    score_table,
    warning_skill,
)
from training.selection import ENSEMBLE, Selection, ensemble_predictions, select
from training.warning_replay import replay_warnings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fold:
    """Origins from ``start`` up to ``end``; the last fold takes its ``end`` too (``closed``),
    so the last origin whose every horizon is observed, the data's newest, is backtested."""

    index: int
    start: datetime
    end: datetime
    closed: bool = False

    def holds(self, origin: pl.Expr) -> pl.Expr:
        """Whether each origin falls in the fold."""
        before_end = origin <= self.end if self.closed else origin < self.end
        return (origin >= self.start) & before_end


class FitCache:
    """Fitted forecasters by family label, parameters and training end, so that one fit serves
    every use of it: with ``calibration.method: scale`` the probe a fold calibrates with (fitted
    ``holdout`` before the fold) is the previous fold's model when folds are as long as the
    holdout, and the final model's probe is the last fold's model (:func:`training.fit_final`).
    A fit depends only on these keys and the data, which a cache never outlives."""

    def __init__(self) -> None:
        self._fits: dict[tuple[str, str, datetime], Forecaster] = {}
        self.hits = 0

    @staticmethod
    def _key(
        model_spec: ModelSpec, overrides: dict[str, Any] | None, end: datetime
    ) -> tuple[str, str, datetime]:
        params = json.dumps({**model_spec.params, **(overrides or {})}, sort_keys=True, default=str)
        return model_spec.label, params, end

    def get(
        self, model_spec: ModelSpec, overrides: dict[str, Any] | None, end: datetime
    ) -> Forecaster | None:
        found = self._fits.get(self._key(model_spec, overrides, end))
        self.hits += found is not None
        return found

    def put(
        self,
        model_spec: ModelSpec,
        overrides: dict[str, Any] | None,
        end: datetime,
        forecaster: Forecaster,
    ) -> None:
        self._fits[self._key(model_spec, overrides, end)] = forecaster

    def clear(self) -> None:
        """Drop the fits (a trained task keeps only its final model)."""
        self._fits.clear()

    def ends(self, model_spec: ModelSpec, overrides: dict[str, Any] | None) -> list[datetime]:
        """The training ends this family (with these parameters) was fitted at."""
        label, params, _ = self._key(model_spec, overrides, datetime.min)
        return sorted(e for (m, p, e) in self._fits if (m, p) == (label, params))


@dataclass
class BacktestResult:
    task: TaskConfig
    predictions: pl.DataFrame
    folds: list[Fold]
    observed: pl.DataFrame
    spec: FeatureSpec
    frame: pl.DataFrame
    history: TargetHistory | None = None
    selection: Selection | None = None
    eval_origins: pl.Series = field(default_factory=lambda: pl.Series("origin", []))
    summary: dict[str, Any] = field(default_factory=dict)
    event_skill: dict[str, EventSkill] = field(default_factory=dict)
    level_skill: dict[str, dict[str, EventSkill]] = field(default_factory=dict)
    # the service's engine replayed over the forecasts: its changes, and their skill per level
    warnings: dict[str, pl.DataFrame] = field(default_factory=dict)
    warning_skill: dict[str, dict[str, WarningSkill]] = field(default_factory=dict)
    # whether warnings come before the water: per tag, level, the task's lead horizons
    lead_skill: dict[str, dict[str, list[LeadSkill]]] = field(default_factory=dict)
    # per tag and level: the forecasts whose probability of the level was >= 0.9 (the top
    # decile, where warnings live) and those that warned: (n, mean probability, observed share)
    reliability: dict[str, dict[str, dict[str, Reliability]]] = field(default_factory=dict)
    # the fits the backtest made, for the final model's calibration probe
    fits: FitCache = field(default_factory=FitCache)
    # feature columns null on most rows (:func:`features.sparse_features`)
    sparse: list[SparseFeature] = field(default_factory=list)

    @property
    def chosen(self) -> str:
        """The label of the model the selection picked (the task's model without candidates)."""
        return self.selection.chosen if self.selection else self.task.model.label

    @property
    def baseline(self) -> str:
        return self.task.baseline.label

    @property
    def rule(self) -> str | None:
        """The warning baseline's label (the rate-of-rise rule), for a task that warns."""
        return self.task.warning_baseline.label if self.task.warning is not None else None


@dataclass(frozen=True)
class Reliability:
    """Forecasts in a band of the level's probability: how many, their mean probability and
    the share of them that reached the level (a calibrated band has the two equal)."""

    n: int
    p_mean: float | None
    observed: float | None


def plan_folds(task: TaskConfig, first: datetime, last: datetime) -> list[Fold]:
    """Fold windows ending at the last origin whose every horizon is observable."""
    cfg = task.backtest
    length = cfg.fold_length
    end = last - task.max_horizon
    start = end - cfg.folds * length
    if start - cfg.min_train < first + lookback(task):
        raise DataError(
            f"not enough history for {cfg.folds} folds of {cfg.fold_length} after "
            f"{cfg.min_train} of training: data span {first:%Y-%m-%d %H:%M} to "
            f"{last:%Y-%m-%d %H:%M}; shorten backtest.folds/fold_length/min_train or add data"
        )
    return [
        Fold(i, start + i * length, start + (i + 1) * length, closed=i == cfg.folds - 1)
        for i in range(cfg.folds)
    ]


@dataclass
class BacktestData:
    """Everything a backtest fits and forecasts from, built once and reused: by the backtest
    for each family, by tuning for each trial, by promotion to score the champion's config on
    exactly the challenger's folds."""

    task: TaskConfig
    frame: pl.DataFrame
    spec: FeatureSpec
    folds: list[Fold]
    eval_origins: pl.Series
    history: TargetHistory
    observed: pl.DataFrame
    fits: FitCache = field(default_factory=FitCache)
    # feature columns null on most rows: reported, never swallowed
    sparse: list[SparseFeature] = field(default_factory=list)


def prepare_backtest(tables: CityTables, task: TaskConfig) -> BacktestData:
    """Features for every training and evaluation origin, the folds, history and outcomes."""
    check_families(task)
    # the task's count series and targets, derived once for everything below
    data = task_tables(tables, task)
    first, last = data_span(data)
    folds = plan_folds(task, first, last)
    # travel times asked to be estimated: on the data before the first evaluated origin; the
    # task carries them from here on (the run records them, the model serves with them)
    data = estimate_travel(data, folds[0].start)
    task = data.task
    train_start = first + lookback(task)
    origins = origin_range(train_start, folds[-1].end, task.train.origin_stride)
    eval_origins = origin_range(folds[0].start, folds[-1].end, task.backtest.origin_stride)
    frame = build_features(data, pl.concat([origins, eval_origins]).unique().sort())
    spec = FeatureSpec.from_frame(frame, task, frame["series_id"].unique().to_list())
    covariates = covariates_read([task.model, *task.candidates], task=task, spec=spec)
    history = target_history(data, first, last, covariates=covariates)
    observed = observed_targets(data, folds[0].start, folds[-1].end + task.max_horizon)
    sparse = sparse_features(frame, spec.columns)
    if (said := describe_sparse(sparse)) is not None:
        log.warning("%s: %s", task.name, said)
    return BacktestData(task, frame, spec, folds, eval_origins, history, observed, sparse=sparse)


def backtest_model(
    data: BacktestData,
    model_spec: ModelSpec,
    *,
    overrides: dict[str, Any] | None = None,
    folds: list[Fold] | None = None,
    cache: FitCache | None = None,
) -> Iterator[pl.DataFrame]:
    """One family's out-of-sample predictions, fold by fold (a generator, so that a tuner can
    prune after any fold); each frame carries ``model`` (the spec's label), ``fold`` and ``y``.
    With ``cache``, fits are shared with the caller's other uses of the same data."""
    for fold in folds or data.folds:
        yield fold_forecasts(
            data.frame,
            fold,
            data.task,
            data.spec,
            model_spec,
            overrides,
            data.eval_origins,
            data.history,
            cache=cache,
        )


def run_backtest(
    tables: CityTables,
    task: TaskConfig,
    *,
    overrides: dict[str, Any] | None = None,
    progress: bool = True,
    data: BacktestData | None = None,
    replay: tuple[str, ...] = ("model", "rule"),
) -> BacktestResult:
    """Backtest the task's model, candidates and baseline; predictions carry ``model`` and
    ``fold``; the selection picks what ships.

    ``replay``: whose forecasts the service's engine is replayed over (``model``, ``rule``,
    ``baseline``). The engine writes a ledger at every origin, and the rate-of-rise rule opens
    many warnings: on traffic its replay costs minutes, so training replays the model only and
    ``citybrain backtest`` the model and the rule; every tag's lead skill is computed anyway."""
    data = data or prepare_backtest(tables, task)
    task = data.task  # as prepared (estimated travel times resolved)
    folds = data.folds
    outputs: list[pl.DataFrame] = []
    specs = [task.model, *task.candidates]
    runs = [(m, overrides if m is task.model else None) for m in specs]
    runs.append((task.baseline, None))
    if task.warning is not None:
        # the warning baseline: scored by the same engine and rules, never selected
        runs.append((task.warning_baseline, None))
    bar = tqdm(
        [(f, m, x) for f in folds for m, x in runs],
        desc=f"backtest {task.name}",
        unit="fit",
        disable=not progress,
    )
    for fold, model_spec, extra in bar:
        bar.set_postfix_str(f"fold {fold.index + 1}/{len(folds)} {model_spec.label}")
        outputs.extend(
            backtest_model(data, model_spec, overrides=extra, folds=[fold], cache=data.fits)
        )
    predictions = pl.concat(outputs)
    members = [m.label for m in specs]
    weights: dict[str, float] = {}
    if task.selection.ensemble and len(members) > 1:
        mixed, weights = ensemble_predictions(predictions, task, members)
        predictions = pl.concat([predictions, mixed])
        members.append(ENSEMBLE)
    selection = select(predictions, task, members)
    if selection.chosen == ENSEMBLE:
        selection.weights = weights
        selection.reason += "; weights " + ", ".join(f"{m} {w:.2f}" for m, w in weights.items())
    predictions = predictions.sort("model", "series_id", "origin", "horizon")
    if task.warning is not None:
        keys = predictions.select("series_id", "origin", "ts").unique()
        thresholds = warning_thresholds(keys, task, data.history.series, data.history)
        predictions = with_exceedance(predictions, task, thresholds)
    result = BacktestResult(
        task=task,
        predictions=predictions,
        folds=folds,
        observed=data.observed,
        spec=data.spec,
        frame=data.frame,
        history=data.history,
        selection=selection,
        eval_origins=data.eval_origins,
        fits=data.fits,
        sparse=data.sparse,
    )
    summarise(result, replay=replay)
    return result


def fold_forecasts(
    frame: pl.DataFrame,
    fold: Fold,
    task: TaskConfig,
    spec: FeatureSpec,
    model_spec: ModelSpec,
    overrides: dict[str, Any] | None,
    eval_origins: pl.Series,
    history: TargetHistory | None = None,
    *,
    cache: FitCache | None = None,
) -> pl.DataFrame:
    """Fit one family on the rows known before the fold and forecast the fold's origins.

    The fit sees the target history only before the fold; predictions may read it up to each
    origin (``history`` runs to the end of the data; families read no further than the row's
    origin)."""
    test = frame.filter(
        fold.holds(pl.col("origin")) & pl.col("origin").is_in(eval_origins.implode())
    )
    forecaster = fit_forecaster(
        model_spec, frame, fold.start, task, spec, overrides, history, cache=cache
    )
    return (
        forecaster.predict(test, history)
        .join(
            test.select("series_id", "origin", "horizon", "y"),
            on=["series_id", "origin", "horizon"],
            how="left",
        )
        .with_columns(pl.lit(model_spec.label).alias("model"), pl.lit(fold.index).alias("fold"))
    )


def fit_forecaster(
    model_spec: ModelSpec,
    frame: pl.DataFrame,
    end: datetime,
    task: TaskConfig,
    spec: FeatureSpec,
    overrides: dict[str, Any] | None,
    history: TargetHistory | None,
    *,
    cache: FitCache | None = None,
    probe_end: datetime | None = None,
) -> Forecaster:
    """A forecaster fitted on what is known before ``end``, recalibrated if the task says so.

    With ``calibration.method: scale`` a probe of the same family is fitted on the window up to
    ``probe_end`` (by default ``end - holdout``) and forecasts the held-out tail; the quantile
    scales that make those forecasts calibrated are then applied to the model refitted on the
    whole window. ``cache`` hands back a fit already made with the same family, parameters and
    end (a fold's model is the next fold's probe) and keeps the new ones.
    """

    def fitted(until: datetime) -> Forecaster:
        found = cache.get(model_spec, overrides, until) if cache is not None else None
        if found is not None:
            return found
        model = build_forecaster(model_spec, task=task, spec=spec, overrides=overrides)
        model.fit(training_window(frame, until, task), history.until(until) if history else None)
        if cache is not None:
            cache.put(model_spec, overrides, until, model)
        return model

    forecaster = fitted(end)
    if task.calibration.method == "none":
        return forecaster
    cut = probe_end or end - task.calibration.holdout
    held = frame.filter((pl.col("origin") >= cut) & (pl.col("ts") < end))
    before = history.until(end) if history is not None else None
    probe_fc = (
        fitted(cut)
        .predict(held, before)
        .join(
            held.select("series_id", "origin", "horizon", "y"),
            on=["series_id", "origin", "horizon"],
            how="left",
        )
    )
    sig = SIGNALS.get(task.target.signal)
    scales = fit_scales(
        probe_fc,
        task.quantiles,
        discrete=bool(sig is not None and sig.discrete),
        lower_bound=sig.low if sig is not None and sig.low == 0.0 else None,
    )
    return CalibratedForecaster(forecaster, scales)


def check_families(task: TaskConfig) -> None:
    """Fail on an unknown model family before any data is read."""
    specs = [("model.family", task.model), ("baseline.family", task.baseline)]
    specs += [(f"candidates[{i}].family", m) for i, m in enumerate(task.candidates)]
    for key, spec in specs:
        family_class(spec.family, key=key)


def training_window(frame: pl.DataFrame, end: datetime, task: TaskConfig) -> pl.DataFrame:
    """Rows a model fitted at ``end`` may learn from: target observed before ``end``, origin
    within the task's ``train.history``."""
    return frame.filter((pl.col("ts") < end) & (pl.col("origin") >= end - task.train.history))


def summarise(result: BacktestResult, replay: tuple[str, ...] = ("model", "rule")) -> None:
    """Fill ``summary`` (flat metrics for MLflow) and ``event_skill`` per model.

    Every model gets the headline scores of ``training.metrics.score_table`` (MAE, RMSE, MASE
    against the seasonal-naive error in the training history, pinball, CRPS, 80 % coverage read
    plainly and by randomised PIT); the chosen model and the baseline also get MAE per horizon,
    event skill and the Brier score of the event probability.
    """
    task, preds = result.task, result.predictions
    warning = task.warning
    max_lead = task.max_horizon
    chosen = result.chosen
    tags = {chosen: "model", task.baseline.label: "baseline"}
    if result.rule is not None:
        tags[result.rule] = "rule"
    scale = _mase_scale(result)
    sig = SIGNALS.get(task.target.signal)
    lower = sig.low if sig is not None and sig.low == 0.0 else None
    observed_at: pl.DataFrame | None = None
    for model in preds["model"].unique().sort().to_list():
        rows = preds.filter(pl.col("model") == model)
        scores = score_table(
            rows.drop([c for c in rows.columns if c.startswith(("p_", "t_"))]),
            task.quantiles,
            season_scale=scale,
            lower_bound=lower,
            discrete=bool(sig is not None and sig.discrete),
        )
        if model not in tags:
            for k, v in scores.items():
                if k != "n":
                    result.summary[f"candidate_{model}_{k}"] = v
            continue
        tag = tags[model]
        for k, v in scores.items():
            if k != "n":
                result.summary[f"{tag}_{k}"] = v
        for r in mae_by_horizon(rows).iter_rows(named=True):
            minutes = int(r["horizon"] / timedelta(minutes=1))
            result.summary[f"{tag}_mae_h{minutes}m"] = r["mae"]
        if warning is not None and warning.event_threshold is not None:
            below = warning.direction == "below"
            p_event = event_probability(rows, task, warning.event_threshold)
            rows = rows.with_columns(pl.Series("_p_event", p_event))
            skill = event_skill(
                rows,
                result.observed,
                threshold=warning.event_threshold,
                warn=pl.col("_p_event") >= warning.probability,
                max_lead=max_lead,
                below=below,
            )
            result.event_skill[tag] = skill
            for name, value in skill.to_dict().items():
                if value is not None and name != "threshold":
                    result.summary[f"{tag}_event_{name}"] = float(value)
            scored = rows.filter(pl.col("y").is_not_null())
            outcome = (
                scored["y"] < warning.event_threshold
                if below
                else (scored["y"] >= warning.event_threshold)
            )
            result.summary[f"{tag}_event_brier"] = brier_score(scored["_p_event"], outcome)
        if warning is not None:
            if observed_at is None:
                observed_at = _observed_thresholds(result)
            result.level_skill[tag] = _level_skills(rows, observed_at, task)
            for level, skill in result.level_skill[tag].items():
                for name in _LEVEL_METRICS:
                    value = getattr(skill, name)
                    if value is not None and np.isfinite(value):
                        result.summary[f"{tag}_{level}_{name}"] = float(value)
            _lead(result, tag, rows, observed_at)
            result.reliability[tag] = _reliability(rows, task)
            for level, bands in result.reliability[tag].items():
                for band, held in bands.items():
                    result.summary[f"{tag}_{level}_{band}_n"] = float(held.n)
                    if held.p_mean is not None and held.observed is not None:
                        result.summary[f"{tag}_{level}_{band}_p"] = held.p_mean
                        result.summary[f"{tag}_{level}_{band}_observed"] = held.observed
            if tag in replay:
                _replay(result, tag, rows, observed_at)


def _replay(result: BacktestResult, tag: str, rows: pl.DataFrame, observed: pl.DataFrame) -> None:
    """The service's rules and engine over one model's forecasts, judged per level; summary
    keys ``{tag}_warn_{level}_{metric}``."""
    task = result.task
    assert task.warning is not None and result.history is not None
    areas = result.history.series.select("series_id", "area_id")
    timeline = replay_warnings(rows, task, areas)
    start, end = rows["origin"].min(), rows["origin"].max()
    assert isinstance(start, datetime) and isinstance(end, datetime)
    skill = warning_skill(
        timeline,
        observed.join(areas, on="series_id", how="left"),
        levels=[lv.level for lv in task.warning.levels],
        below=task.warning.direction == "below",
        quiet=task.warning.quiet,
        start=start,
        end=end,
        min_duration=task.warning.min_event or timedelta(0),
    )
    result.warnings[tag], result.warning_skill[tag] = timeline, skill
    for level, s in skill.items():
        for name, value in s.to_dict().items():
            if value is not None and np.isfinite(value):
                result.summary[f"{tag}_warn_{level}_{name}"] = float(value)


_LEVEL_METRICS = (
    "pod",
    "far",
    "csi",
    "events",
    "events_detected",
    "events_ahead",
    "median_lead_time_min",
)


def _lead(result: BacktestResult, tag: str, rows: pl.DataFrame, observed: pl.DataFrame) -> None:
    """Lead skill per level at the task's lead horizons; summary keys
    ``{tag}_lead_{level}_{minutes}m_{metric}``."""
    task = result.task
    warning = task.warning
    assert warning is not None
    result.lead_skill[tag] = {}
    for lv in warning.levels:
        skills = lead_skill(
            rows,
            observed,
            level=lv.level,
            horizons=task.lead_horizons,
            probability=warning.probability,
            below=warning.direction == "below",
            min_duration=warning.min_event or timedelta(0),
        )
        result.lead_skill[tag][lv.level] = skills
        for s in skills:
            minutes = int(s.horizon / timedelta(minutes=1))
            for name, value in s.to_dict().items():
                if value is not None and np.isfinite(value):
                    result.summary[f"{tag}_lead_{lv.level}_{minutes}m_{name}"] = float(value)


def _reliability(rows: pl.DataFrame, task: TaskConfig) -> dict[str, dict[str, Reliability]]:
    """Per level, the top decile of the level's probability (>= 0.9) and the warned band
    (>= the rule's probability): how often the level was then reached."""
    warning = task.warning
    assert warning is not None
    below = warning.direction == "below"
    out: dict[str, dict[str, Reliability]] = {}
    for lv in warning.levels:
        p, t = pl.col(f"p_{lv.level}"), pl.col(f"t_{lv.level}")
        scored = rows.filter(pl.col("y").is_not_null() & p.is_not_null() & t.is_not_null())
        reached = (pl.col("y") < t) if below else (pl.col("y") >= t)
        bands = {}
        for band, floor in (("top_decile", 0.9), ("warned", warning.probability)):
            inside = scored.filter(p >= floor)
            if inside.is_empty():
                bands[band] = Reliability(0, None, None)
                continue
            agg = inside.select(p.mean().alias("p"), reached.cast(pl.Float64).mean().alias("o"))
            bands[band] = Reliability(inside.height, float(agg["p"][0]), float(agg["o"][0]))
        out[lv.level] = bands
    return out


def _observed_thresholds(result: BacktestResult) -> pl.DataFrame:
    """The observed targets with each level's threshold at each grid time (as known then), so
    that an event's episodes run over every grid time, not only the forecast times."""
    assert result.history is not None
    keys = result.observed.select("series_id", pl.col("ts").alias("origin"), "ts")
    at = warning_thresholds(keys, result.task, result.history.series, result.history)
    return result.observed.join(at.drop("origin"), on=["series_id", "ts"], how="left")


def _level_skills(
    rows: pl.DataFrame, observed: pl.DataFrame, task: TaskConfig
) -> dict[str, EventSkill]:
    """Event skill at each of the rule's levels, each target judged by its own threshold at
    each time (``t_<level>``: a gauge's level, a count's norm, a share of free flow) and warned
    when the level's probability reaches the rule's."""
    warning = task.warning
    assert warning is not None
    out: dict[str, EventSkill] = {}
    for lv in warning.levels:
        column = f"t_{lv.level}"
        out[lv.level] = event_skill(
            rows,
            observed,
            threshold=column,
            warn=pl.col(f"p_{lv.level}").fill_null(0.0) >= warning.probability,
            max_lead=task.max_horizon,
            below=warning.direction == "below",
        )
    return out


def _mase_scale(result: BacktestResult) -> float | None:
    """The seasonal-naive MAE over the history before the first fold (the MASE denominator)."""
    if result.history is None or not result.folds:
        return None
    season = result.task.features.season_ref
    steps = season // result.task.step if season else 1
    before = int(result.history.bins([result.folds[0].start])[0])
    scale = mase_scale(result.history.values[:, :before], max(int(steps), 1))
    return float(scale) if scale and np.isfinite(scale) and scale > 0 else None
