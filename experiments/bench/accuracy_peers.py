"""The peers on our folds: statsforecast and mlforecast cross-validations whose cutoffs are our
backtest's origins, each run in its own spawned process."""

from __future__ import annotations

import itertools
import os
import time
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl
from accuracy_data import DATASETS, LEVEL, SF, bench_task, load_tables

from features import (
    CityTables,
    TargetHistory,
    TaskConfig,
    data_span,
    lookback,
    origin_range,
    target_history,
    task_tables,
)
from training import Fold, plan_folds


@dataclass
class Plan:
    """Our backtest's folds, origins and target grid, rebuilt from the same public functions
    ``run_backtest`` uses, so the peers see what ours sees."""

    task: TaskConfig
    folds: list[Fold]
    eval_origins: pl.Series
    history: TargetHistory
    first: datetime


def backtest_plan(tables: CityTables, task: TaskConfig) -> Plan:
    data = task_tables(tables, task)
    first, last = data_span(data)
    folds = plan_folds(task, first, last)
    stride = task.backtest.origin_stride
    eval_origins = origin_range(folds[0].start, folds[-1].end, stride)
    return Plan(task, folds, eval_origins, target_history(data, first, last), first)


def peer_series(history: TargetHistory) -> pl.DataFrame:
    """``unique_id, ds, y`` for the peers: our target grid with gaps forward-filled (the peers
    refuse missing values; forward filling reads only the past), leading gaps dropped; ``ds`` in
    naive UTC."""
    return (
        history.frame()
        .sort("series_id", "ts")
        .with_columns(pl.col("value").forward_fill().over("series_id"))
        .drop_nulls("value")
        .select(
            pl.col("series_id").alias("unique_id"),
            pl.col("ts").dt.replace_time_zone(None).alias("ds"),
            pl.col("value").alias("y"),
        )
    )


@dataclass(frozen=True)
class PeerFold:
    """One fold as the peers' cross-validation sees it: the series from the start of our
    training window to the last origin plus the longest horizon, and ``n_windows`` cutoffs every
    ``step_size`` grid steps, the first at the fold's start: cutoff = our origin."""

    fold: Fold
    frame: pl.DataFrame
    origins: list[datetime]
    step_size: int
    h: int


def peer_folds(plan: Plan, series: pl.DataFrame) -> list[PeerFold]:
    """Our folds as peer cross-validations (statsforecast and mlforecast, ``refit=False``).

    Mapping: ours refits at each fold's start on rows whose target lies before it, then
    forecasts every origin in the fold reading data up to that origin. The peers get one
    cross-validation per fold whose cutoffs are exactly our origins; ``refit=False`` fits once
    on the history up to the first cutoff (the fold's start, one grid step more than ours) and
    then only updates the state with the data up to each later cutoff. History starts where our
    training window does: ``train.history`` plus the features' lookback before the fold.
    """
    task = plan.task
    step = task.step
    h = max(task.horizon_steps())
    stride = task.backtest.origin_stride
    out = []
    for fold in plan.folds:
        origins = (
            plan.eval_origins.to_frame("origin")
            .filter(fold.holds(pl.col("origin")))["origin"]
            .to_list()
        )
        if origins[0] != fold.start or any(b - a != stride for a, b in itertools.pairwise(origins)):
            raise AssertionError(f"fold {fold.index}: origins are not evenly spaced from its start")
        start = fold.start - task.train.history - lookback(task)
        end = origins[-1] + h * step
        naive = [t.replace(tzinfo=None) for t in (start, end, fold.start)]
        frame = series.filter(pl.col("ds").is_between(naive[0], naive[1]))
        # a series must be known before the fold and run to the end of its last window
        span = frame.group_by("unique_id").agg(pl.col("ds").min().alias("a"), pl.len().alias("n"))
        full = int((naive[1] - naive[2]) / step) + 1
        keep = span.filter((pl.col("a") < naive[2]) & (pl.col("n") > full + 2 * h))["unique_id"]
        frame = frame.filter(pl.col("unique_id").is_in(keep.implode()))
        out.append(PeerFold(fold, frame, origins, stride // step, h))
    return out


def peer_rows(cv: pl.DataFrame, model: str, label: str, pf: PeerFold, task: TaskConfig):
    """A peer's cross-validation output as our prediction rows (our horizons only)."""
    horizons = pl.Series(list(task.horizons), dtype=pl.Duration("us"))
    lo, hi = f"{model}-lo-{LEVEL}", f"{model}-hi-{LEVEL}"
    rows = cv.select(
        pl.col("unique_id").cast(pl.String).alias("series_id"),
        pl.col("cutoff").cast(pl.Datetime("us")).dt.replace_time_zone("UTC").alias("origin"),
        pl.col("ds").cast(pl.Datetime("us")).dt.replace_time_zone("UTC").alias("ts"),
        pl.col(model).cast(pl.Float64).alias("yhat"),
        (pl.col(lo) if lo in cv.columns else pl.lit(None)).cast(pl.Float64).alias("q10"),
        (pl.col(hi) if hi in cv.columns else pl.lit(None)).cast(pl.Float64).alias("q90"),
    ).with_columns((pl.col("ts") - pl.col("origin")).alias("horizon"))
    cutoffs = set(rows["origin"].unique().to_list())
    if cutoffs != set(pf.origins):
        raise AssertionError(
            f"{label}: fold {pf.fold.index} cutoffs do not match our origins "
            f"({len(cutoffs)} cutoffs, {len(pf.origins)} origins)"
        )
    return rows.filter(pl.col("horizon").is_in(horizons.implode())).with_columns(
        pl.lit(label).alias("model"), pl.lit(pf.fold.index).alias("fold")
    )


def statsforecast_model(name: str, season: int | tuple[int, ...] = 1):
    from statsforecast.models import MSTL, AutoARIMA, AutoETS, Naive, SeasonalNaive

    if name == "Naive":
        return Naive(alias=name)
    if name == "SeasonalNaive":
        return SeasonalNaive(season_length=season, alias=name)
    if name == "AutoETS":
        return AutoETS(season_length=season, alias=name)
    if name == "AutoARIMA":
        return AutoARIMA(season_length=season, alias=name)
    if name == "MSTL":
        return MSTL(season_length=list(season), trend_forecaster=AutoETS(model="ZZN"), alias=name)
    raise ValueError(f"no statsforecast model {name}")


def _warm_up_statsforecast(models: list) -> None:
    """Compile numba kernels on a tiny series first, so the timings are of fitting alone."""
    from statsforecast import StatsForecast

    ds = pl.datetime_range(datetime(2020, 1, 1), datetime(2020, 1, 1, 23), "1h", eager=True)
    rng = np.random.default_rng(0)
    df = pl.DataFrame({"unique_id": "w", "ds": ds, "y": 10 + rng.normal(size=ds.len())})
    small = [statsforecast_model("Naive"), statsforecast_model("AutoETS")]
    if any(type(m).__name__ == "AutoARIMA" for m in models):
        small.append(statsforecast_model("AutoARIMA"))
    StatsForecast(models=small, freq="1h").cross_validation(
        df=df, h=2, n_windows=2, step_size=1, refit=False, level=[LEVEL]
    )


def run_statsforecast(job: dict) -> dict:
    """statsforecast on our folds in this (fresh) process: one cross-validation per model and
    fold, so each model's time is its own."""
    from statsforecast import StatsForecast

    warnings.filterwarnings("ignore")
    dataset = DATASETS[job["dataset"]]
    task = bench_task(dataset, job["quick"])
    plan = backtest_plan(load_tables(dataset, Path(job["store"])), task)
    folds = peer_folds(plan, peer_series(plan.history))
    specs = dataset.peers.statsforecast
    _warm_up_statsforecast([statsforecast_model(m.name, m.season) for m in specs])
    frames, seconds, failed = [], {}, {}
    for spec in specs:
        label = f"statsforecast: {spec.name}" + _season_text(spec, task)
        t0 = time.perf_counter()
        try:
            for pf in folds:
                sf = StatsForecast(
                    models=[statsforecast_model(spec.name, spec.season)],
                    freq=str(task.frequency),
                    n_jobs=1,
                )
                cv = sf.cross_validation(
                    df=pf.frame,
                    h=pf.h,
                    n_windows=len(pf.origins),
                    step_size=pf.step_size,
                    input_size=spec.input_size,
                    refit=False,
                    level=[LEVEL],
                )
                frames.append(peer_rows(cv, spec.name, label, pf, task))
        except Exception as err:  # a peer failing on real data is a result, not a crash
            failed[label] = f"{type(err).__name__}: {str(err).splitlines()[0][:160]}"
            frames = [f for f in frames if f["model"][0] != label]
            continue
        seconds[label] = time.perf_counter() - t0
    if not frames:
        return {"seconds": seconds, "failed": failed, "path": None}
    pl.concat(frames).write_parquet(job["out"])
    return {"seconds": seconds, "failed": failed, "path": job["out"]}


def _season_text(spec: SF, task: TaskConfig) -> str:
    """`` (season 1d, 1w; last 8w)``: the model's seasons and history window, as durations."""
    from features import format_duration

    seasons = spec.season if isinstance(spec.season, tuple) else (spec.season,)
    parts = [
        "no season"
        if seasons == (1,)
        else "season " + ", ".join(format_duration(task.step * int(x)) for x in seasons)
    ]
    if spec.input_size:
        parts.append(f"last {format_duration(task.step * spec.input_size)}")
    return f" ({'; '.join(parts)})"


def _local_date_feature(attr: str, zone: str):
    import pandas as pd

    def feature(dates):
        return getattr(pd.DatetimeIndex(dates).tz_localize("UTC").tz_convert(zone), attr)

    feature.__name__ = f"local_{attr}"
    return feature


def run_mlforecast(job: dict) -> dict:
    """mlforecast + LightGBM on our folds in this (fresh) process: its default recursive
    forecast (one model, each step fed back), lags, rolling means of lag 1 and local date
    features. (Direct models, ``horizons=``, were far worse with date features here: at 6 h on
    I-94 1,696 veh/h against 153 recursive, as if the date features of the first step were used
    for every horizon.)"""
    import lightgbm as lgb
    import pandas as pd
    from mlforecast import MLForecast
    from mlforecast.lag_transforms import RollingMean

    warnings.filterwarnings("ignore")
    dataset = DATASETS[job["dataset"]]
    task = bench_task(dataset, job["quick"])
    plan = backtest_plan(load_tables(dataset, Path(job["store"])), task)
    folds = peer_folds(plan, peer_series(plan.history))
    peers = dataset.peers
    freq = pd.tseries.frequencies.to_offset(pd.Timedelta(task.step))
    label = "mlforecast: LightGBM (recursive)"
    frames = []
    t0 = time.perf_counter()
    for pf in folds:
        fcst = MLForecast(
            models={
                "LightGBM": lgb.LGBMRegressor(
                    n_estimators=300,
                    learning_rate=0.05,
                    num_leaves=31,
                    random_state=task.train.seed,
                    verbosity=-1,
                    # n_jobs=None ignores OMP_NUM_THREADS and takes every core (30x slower
                    # than 1 thread on this shared machine); ours gets the same budget
                    n_jobs=int(os.environ.get("OMP_NUM_THREADS", "1")),
                )
            },
            freq=freq,
            lags=list(peers.lags),
            lag_transforms={1: [RollingMean(window_size=w) for w in peers.rolling]},
            date_features=[_local_date_feature(a, dataset.zone) for a in peers.date_features],
        )
        cv = fcst.cross_validation(
            df=pf.frame.to_pandas(),
            n_windows=len(pf.origins),
            h=pf.h,
            step_size=pf.step_size,
            refit=False,
            # what the lags and rolling means read: predicting from each cutoff then skips
            # re-processing the whole history (same forecasts, mlforecast's own speed-up)
            keep_last_n=max(peers.lags) + max(peers.rolling) + 1,
        )
        frames.append(peer_rows(pl.from_pandas(cv), "LightGBM", label, pf, task))
    seconds = {label: time.perf_counter() - t0}
    out = Path(job["out"])
    pl.concat(frames).write_parquet(out)
    return {"seconds": seconds, "failed": {}, "path": str(out)}
