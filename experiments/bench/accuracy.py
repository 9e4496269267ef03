"""Accuracy on real data: our task configs against statsforecast and mlforecast, same folds.

For each real dataset in ``../shared/data`` that fits a domain, in one run:

- ours: the raw files go through our adapters into a fresh canonical store
  (``features.adapters.ingest_format``, what ``citybrain ingest --format`` runs), the task config
  under ``experiments/bench/tasks/`` says what to forecast, and ``training.backtest.run_backtest``
  fits and forecasts every fold (the task's baseline comes with it), once for the config's
  ``model`` and once for each of its ``candidates`` (``--families``); with covariates, the
  config's model runs a second time on the target's own history only, to show what the
  covariates earn. From those backtests' predictions alone, ``accuracy_selection`` builds an
  ensemble whose weights and a walk-forward selection whose pick for each fold come only from
  the folds before it: ``ours: selected``, the headline, is what the product would have shipped.
- peers: statsforecast (seasonal naive, AutoETS, AutoARIMA or MSTL where they fit) and
  mlforecast with LightGBM on lags, rolling means and local date features, fed the same target
  grid (``features.history.target_history``: the pipeline's own binning and masking, gaps
  forward-filled because the peers refuse them) and evaluated at exactly our origins and
  horizons (see ``peer_folds``).

Every implementation runs in its own spawned process. Metrics are computed here on the rows
every model forecast and whose target was observed: MAE per horizon (primary; zeros excluded
for METR-LA, the literature's masked MAE), RMSE, 80 % interval coverage where a model gives
intervals, NSE and KGE for streamflow (median over basins), and the wall time of the backtest.

    .venv/bin/python experiments/bench/accuracy.py [--datasets camels,metr-la] [--quick]
        [--families config|all|lightgbm,sequence]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder would shadow the ``features`` package with features.py.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse  # noqa: E402
import itertools  # noqa: E402
import math  # noqa: E402
import multiprocessing as mp  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import signal  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
import warnings  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from queue import Empty  # noqa: E402

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from features.adapters import AdapterOptions, ingest_format  # noqa: E402
from features.durations import parse_duration  # noqa: E402
from features.errors import CitybrainError, ConfigError, DataError  # noqa: E402
from features.event_series import with_event_series  # noqa: E402
from features.history import TargetHistory, target_history  # noqa: E402
from features.pipeline import data_span, lookback, origin_range  # noqa: E402
from features.store import Store  # noqa: E402
from features.tables import CityTables  # noqa: E402
from features.tasks import ModelSpec, TaskConfig, load_task  # noqa: E402
from models.quantiles import quantile_column  # noqa: E402
from models.registry import FAMILIES, family_class  # noqa: E402
from training.backtest import Fold, plan_folds, run_backtest  # noqa: E402

# the sibling module, found after the ``features`` package (appended, so it cannot shadow it)
sys.path.append(str(_HERE))
from accuracy_selection import ENSEMBLE, SELECTED, honest_ours  # noqa: E402

ROOT = _HERE.parents[1]
DATA = ROOT.parent / "shared" / "data"
TASKS = _HERE / "tasks"
RESULTS = _HERE / "results" / "accuracy.md"
# Families added to the config's model and candidates by ``--families all``, at their defaults:
# every registered family but the baselines. Not the default: the graph family alone takes about
# 7 minutes per METR-LA fold here, and it needs a road graph the other datasets lack.
BASELINE_FAMILIES = ("seasonal_naive", "historical_average")
CANDIDATE_FAMILIES = tuple(f for f in FAMILIES if f not in BASELINE_FAMILIES)
KEYS = ["series_id", "origin", "horizon"]
# Families that take a number of worker processes: the bench gives them its thread budget (by
# default they take every core, and their process pools inside our spawned processes hung).
WORKER_PARAMS = {"ets": "n_jobs", "sarimax": "n_jobs"}
LEVEL = 80  # the central interval scored, from q10 and q90
METRICS = ("MAE", "RMSE", f"{LEVEL}% coverage", "NSE (median)", "KGE (median)")
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "POLARS_MAX_THREADS",
    "NUMBA_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
)


# ---------------------------------------------------------------- datasets


@dataclass(frozen=True)
class Source:
    """Raw files and the adapter that reads them (``citybrain ingest --format``)."""

    fmt: str
    paths: tuple[str, ...]
    tz: str | None = None
    forcing: str | None = None


@dataclass(frozen=True)
class SF:
    """A statsforecast model: its name, season(s) in grid steps, and optionally how much
    history it reads at each cutoff (``input_size``; default all that ours trains on)."""

    name: str
    season: int | tuple[int, ...] = 1
    input_size: int | None = None


@dataclass(frozen=True)
class Peers:
    """What the peers get: statsforecast models, and mlforecast's lags, rolling means (windows
    over lag 1) and date features (in the data's local zone)."""

    statsforecast: tuple[SF, ...]
    lags: tuple[int, ...]
    rolling: tuple[int, ...]
    date_features: tuple[str, ...]


@dataclass(frozen=True)
class Dataset:
    name: str
    task: str
    sources: tuple[Source, ...]
    zone: str  # local zone of the data (peers' date features; ours reads features.timezone)
    peers: Peers
    until: datetime | None = None  # data at or after this is cut (stated per dataset)
    streamflow: bool = False  # NSE and KGE too
    mask_zeros: bool = False  # masked MAE: observed zeros are missing readings
    note: str = ""
    mae_in: tuple[str, float] | None = None  # MAE also shown in this unit (name, factor)


DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset(
            "walnut-stage",
            "walnut-creek-stage.yaml",
            (Source("usgs", ("walnut-creek-usgs",)),),
            "America/New_York",
            Peers(
                (SF("Naive"), SF("AutoETS"), SF("AutoARIMA")),
                lags=(1, 2, 3, 4, 8, 12, 24, 96),
                rolling=(4, 24, 96),
                date_features=("hour",),
            ),
            note="stage at one gauge; Tropical Storm Debby (2024-08-08) in the first fold",
        ),
        Dataset(
            "walnut-discharge",
            "walnut-creek-discharge.yaml",
            (Source("usgs", ("walnut-creek-usgs",)),),
            "America/New_York",
            Peers(
                (SF("Naive"), SF("AutoETS"), SF("AutoARIMA")),
                lags=(1, 2, 3, 4, 8, 12, 24, 96),
                rolling=(4, 24, 96),
                date_features=("hour",),
            ),
            streamflow=True,
            note="discharge at three gauges; Debby in the first fold",
        ),
        Dataset(
            "camels",
            "camels.yaml",
            (Source("camels", ("camels-us-4basins",), forcing="daymet"),),
            "America/New_York",
            Peers(
                (SF("Naive"), SF("AutoETS"), SF("AutoARIMA")),
                lags=(1, 2, 3, 7, 14),
                rolling=(7, 30),
                date_features=("month", "dayofyear"),
            ),
            streamflow=True,
            note="3 years of daily data only (2000-2002): at most 2 years to train on",
        ),
        Dataset(
            "nyc-council",
            "nyc-council.yaml",
            (Source("calls311", ("nyc-council-complaints/nycomplaints_records.parquet",)),),
            "America/New_York",
            Peers(
                # AutoARIMA with a weekly season took ~15 s per series and fold here (120 fits)
                (SF("SeasonalNaive", 7), SF("AutoETS", 7), SF("MSTL", (7,))),
                lags=(1, 2, 7, 14, 28),
                rolling=(7, 28),
                date_features=("dayofweek", "month"),
            ),
            until=datetime(2024, 1, 1, 5, tzinfo=UTC),
            note="case records counted per day; cut at the end of 2023, where the file thins out",
        ),
        Dataset(
            "nyc-street-flooding",
            "nyc-street-flooding.yaml",
            (
                Source(
                    "daily-counts",
                    ("nyc311-street-flooding/flooding_311_daily_resample_D.csv",),
                ),
                Source("asos", ("nyc-weather-hourly-2013",)),
            ),
            "America/New_York",
            Peers(
                (SF("SeasonalNaive", 7), SF("AutoETS", 7), SF("AutoARIMA", 7)),
                lags=(1, 2, 7, 14, 28),
                rolling=(7, 28),
                date_features=("dayofweek",),  # one year of training: no annual cycle
            ),
            until=datetime(2014, 1, 1, 5, tzinfo=UTC),
            note="counts cut at the end of 2013, the one year with hourly rain",
        ),
        Dataset(
            "i94",
            "i94-traffic.yaml",
            (Source("metro-traffic", ("i94-traffic-raw",)),),
            "America/Chicago",
            Peers(
                (
                    SF("SeasonalNaive", 168),
                    SF("AutoETS", 24),
                    # MSTL re-decomposes its whole input at every cutoff: 6 s per cutoff on a
                    # year of hours here, so it reads the last 8 weeks
                    SF("MSTL", (24, 168), input_size=8 * 168),
                ),
                lags=(1, 2, 3, 24, 168),
                rolling=(3, 24),
                date_features=("hour", "dayofweek"),
            ),
            note="raw file: repeated hours merged, 0 K and 9,831 mm dropped by the adapter",
        ),
        Dataset(
            "metr-la",
            "metr-la.yaml",
            (Source("metr-la", ("metr-la-1week",)),),
            "America/Los_Angeles",
            Peers(
                (SF("SeasonalNaive", 288), SF("AutoETS")),
                lags=(1, 2, 3, 6, 12, 288),
                rolling=(6, 12),
                date_features=("hour", "minute"),
            ),
            mask_zeros=True,
            note="one week; masked MAE (zero speeds are missing readings). DCRNN reports "
            "2.77 / 3.15 / 3.60 mph at 15 / 30 / 60 min on the last 20 % of 4 months; not the "
            "same period, record length or model size",
            mae_in=("mph", 1 / 1.609344),
        ),
    )
}


def load_tables(dataset: Dataset, store: Path) -> CityTables:
    """The canonical tables, cut at ``dataset.until`` where the dataset says so."""
    tables = CityTables.from_store(Store(store))
    if dataset.until is None:
        return tables
    return CityTables(
        series=tables.series,
        observations=tables.observations.filter(pl.col("ts") < dataset.until),
        events=tables.events.filter(pl.col("ts") < dataset.until),
        weather_forecasts=tables.weather_forecasts.filter(pl.col("valid_at") < dataset.until),
        areas=tables.areas,
    )


def ingest(dataset: Dataset, store: Path, data_root: Path) -> tuple[float, list[str]]:
    """Our adapters into a fresh canonical store; seconds and the adapters' notes."""
    t0 = time.perf_counter()
    notes: list[str] = []
    for source in dataset.sources:
        options = AdapterOptions(tz=source.tz, forcing=source.forcing)
        ingest_format(Store(store), source.fmt, [data_root / p for p in source.paths], options)
        notes += options.notes
    return time.perf_counter() - t0, notes


def bench_task(dataset: Dataset, quick: bool) -> TaskConfig:
    """The dataset's task config; ``--quick`` keeps only its last fold."""
    task = load_task(TASKS / dataset.task)
    if quick:
        task = task.model_copy(update={"backtest": task.backtest.model_copy(update={"folds": 1})})
    return task


# ---------------------------------------------------------------- ours


def target_only(task: TaskConfig) -> TaskConfig | None:
    """The task without covariates (None if it has none): what the target's history alone gives."""
    f = task.features
    if not (f.observed or f.events or f.known_ahead):
        return None
    features = f.model_copy(update={"observed": (), "events": (), "known_ahead": ()})
    return task.model_copy(update={"features": features, "name": f"{task.name}-target-only"})


def our_specs(task: TaskConfig, families: str) -> list[ModelSpec]:
    """Ours to backtest, the config's model first. ``config``: the model and the config's
    ``candidates``; ``all``: those and every other registered family (but the baselines) at its
    defaults; else a comma-separated list of families or candidate names, picked from the
    config where it names them (with its parameters), at defaults where not. The config's model
    always runs: it is the selection's choice on the first fold."""
    configured = [task.model, *task.candidates]
    if families == "config":
        return configured
    if families == "all":
        names = [f for f in CANDIDATE_FAMILIES if f not in {m.family for m in configured}]
        return [*configured, *(ModelSpec(family=f) for f in names)]
    specs = [task.model]
    for name in (f.strip() for f in families.split(",")):
        spec = next((m for m in configured if name in (m.label, m.family)), None)
        spec = spec or ModelSpec(family=name)
        if name and spec.label not in {m.label for m in specs}:
            specs.append(spec)
    return specs


def bench_spec(spec: ModelSpec) -> ModelSpec:
    """The spec with the bench's thread budget where its family takes a number of workers
    (unless the config sets it)."""
    key = WORKER_PARAMS.get(spec.family)
    if key is None or key in spec.params:
        return spec
    budget = int(os.environ.get("OMP_NUM_THREADS", "1"))
    return spec.model_copy(update={"params": {**spec.params, key: budget}})


def run_ours(job: dict) -> dict:
    """One of ours in this (fresh) process: our pipeline, one model spec (and, for the config's
    model, the baseline), every fold."""
    dataset = DATASETS[job["dataset"]]
    tables = load_tables(dataset, Path(job["store"]))
    task = bench_task(dataset, job["quick"])
    spec = bench_spec(ModelSpec(**job["spec"]))
    task = task.model_copy(update={"model": spec, "candidates": ()})
    if job["target_only"]:
        task = target_only(task)
    t0 = time.perf_counter()
    result = run_backtest(tables, task, progress=False)
    seconds = time.perf_counter() - t0
    qcols = [quantile_column(q) for q in task.quantiles]
    preds = result.predictions.select(*KEYS, "ts", "model", "yhat", *qcols, "y", "fold")
    if not job["keep_baseline"]:
        preds = preds.filter(pl.col("model") == spec.label)
    preds = preds.with_columns(
        pl.when(pl.col("model") == spec.label)
        .then(pl.lit(job["label"]))
        .otherwise(pl.lit(f"ours: baseline ({task.baseline.family} {task.features.season_ref})"))
        .alias("model")
    )
    out = Path(job["out"])
    preds.write_parquet(out)
    return {"seconds": seconds, "path": str(out)}


# ---------------------------------------------------------------- peers


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
    tables = with_event_series(tables, task)
    first, last = data_span(tables, task)
    folds = plan_folds(task, first, last)
    stride = parse_duration(task.backtest.origin_stride)
    eval_origins = origin_range(folds[0].start, folds[-1].end, stride)
    return Plan(task, folds, eval_origins, target_history(tables, task, first, last), first)


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
    stride = parse_duration(task.backtest.origin_stride)
    out = []
    for fold in plan.folds:
        origins = plan.eval_origins.filter(
            (plan.eval_origins >= fold.start) & (plan.eval_origins < fold.end)
        ).to_list()
        if origins[0] != fold.start or any(b - a != stride for a, b in itertools.pairwise(origins)):
            raise AssertionError(f"fold {fold.index}: origins are not evenly spaced from its start")
        start = fold.start - parse_duration(task.train.history) - lookback(task)
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
    horizons = pl.Series([parse_duration(x) for x in task.horizons], dtype=pl.Duration("us"))
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
                    freq=task.frequency,
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
    from features.durations import format_duration

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


# ---------------------------------------------------------------- metrics

# TODO(lead): training/metrics.py is gaining rmse, masked_mae, nse, kge and coverage in a
# parallel change; swap these for its functions once they land (same definitions).


def _rmse(err: np.ndarray) -> float:
    return float(np.sqrt(np.mean(err**2))) if err.size else math.nan


def nse(y: np.ndarray, yhat: np.ndarray) -> float:
    """Nash-Sutcliffe efficiency: 1 - SSE / variance of the observations around their mean."""
    denom = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - float(np.sum((y - yhat) ** 2)) / denom if denom > 0 else math.nan


def kge(y: np.ndarray, yhat: np.ndarray) -> float:
    """Kling-Gupta efficiency (Gupta et al. 2009): correlation, variability and bias ratios."""
    if y.size < 2 or y.std() == 0 or y.mean() == 0 or yhat.std() == 0:
        return math.nan
    r = float(np.corrcoef(y, yhat)[0, 1])
    alpha, beta = yhat.std() / y.std(), yhat.mean() / y.mean()
    return 1.0 - math.sqrt((r - 1) ** 2 + (alpha - 1) ** 2 + (beta - 1) ** 2)


def common_rows(preds: pl.DataFrame, models: list[str], mask_zeros: bool) -> pl.DataFrame:
    """Rows every model forecast (finite) whose target was observed (and non-zero if masked)."""
    observed = preds.filter(pl.col("model") == models[0]).select(*KEYS, "y")
    observed = observed.filter(pl.col("y").is_not_null() & pl.col("y").is_finite())
    if mask_zeros:
        observed = observed.filter(pl.col("y") != 0)
    keys = observed.select(KEYS)
    for model in models:
        have = preds.filter((pl.col("model") == model) & pl.col("yhat").is_finite()).select(KEYS)
        keys = keys.join(have, on=KEYS, how="semi")
    return (
        preds.drop("y")
        .join(keys, on=KEYS, how="semi")
        .join(observed, on=KEYS, how="left")
        .filter(pl.col("model").is_in(models))
    )


def score(rows: pl.DataFrame, *, streamflow: bool) -> pl.DataFrame:
    """``model, horizon, metric, value`` for each model and horizon."""
    out = []
    for (model, horizon), g in rows.group_by("model", "horizon"):
        y, yhat = g["y"].to_numpy(), g["yhat"].to_numpy()
        err = y - yhat
        vals = {"MAE": float(np.abs(err).mean()), "RMSE": _rmse(err)}
        if g["q10"].null_count() == 0:
            inside = (g["y"] >= g["q10"]) & (g["y"] <= g["q90"])
            vals[f"{LEVEL}% coverage"] = float(inside.mean())
        if streamflow:
            per = [
                (
                    nse(s["y"].to_numpy(), s["yhat"].to_numpy()),
                    kge(s["y"].to_numpy(), s["yhat"].to_numpy()),
                )
                for _, s in g.group_by("series_id")
            ]
            vals["NSE (median)"] = float(np.nanmedian([p[0] for p in per]))
            vals["KGE (median)"] = float(np.nanmedian([p[1] for p in per]))
        out += [(model, horizon, k, v) for k, v in vals.items()]
    return pl.DataFrame(out, schema=["model", "horizon", "metric", "value"], orient="row").sort(
        "horizon", "model"
    )


# ---------------------------------------------------------------- one dataset


@dataclass
class Outcome:
    dataset: Dataset
    task: TaskConfig
    scores: pl.DataFrame = field(default_factory=pl.DataFrame)
    seconds: dict[str, float] = field(default_factory=dict)
    models: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    rows: int = 0
    ours_rows: int = 0
    ingest_s: float = 0.0
    notes: list[str] = field(default_factory=list)
    folds: list[Fold] = field(default_factory=list)
    series: int = 0
    headline: str = ""  # the "ours" the verdict compares: selected, or the config's model alone
    members: list[str] = field(default_factory=list)  # ours that ran (model first)
    chosen: dict[int, str] = field(default_factory=dict)  # the walk-forward pick per fold
    weights: dict[str, float] = field(default_factory=dict)  # the ensemble's, over every fold


def _child(fn, job: dict, queue) -> None:
    """Entry of a spawned implementation: its own process group, so that a timeout can end it
    together with any pool it started."""
    os.setsid()
    queue.put(fn(job))


def _spawned(fn, job: dict, timeout_s: float) -> dict:
    """Run ``fn(job)`` in a fresh spawned process; an error or a timeout comes back as
    ``error`` (on a timeout the process and everything it started are killed)."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(fn, job, queue))
    proc.start()
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                return queue.get(timeout=1.0)
            except Empty:
                if not proc.is_alive():
                    return {"error": f"the process died (exit code {proc.exitcode})"}
                if time.monotonic() > deadline:
                    os.killpg(proc.pid, signal.SIGKILL)
                    return {"error": f"timed out after {timeout_s:.0f} s (killed)"}
    finally:
        proc.join(timeout=5)


def _safe(fn):
    """Child-side wrapper: an error becomes a message (the traceback goes to stderr)."""

    def run(job: dict) -> dict:
        try:
            return fn(job)
        except Exception as err:
            traceback.print_exc()
            return {"error": f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"}

    return run


def ours_safe(job: dict) -> dict:
    return _safe(run_ours)(job)


def statsforecast_safe(job: dict) -> dict:
    return _safe(run_statsforecast)(job)


def mlforecast_safe(job: dict) -> dict:
    return _safe(run_mlforecast)(job)


def run_dataset(
    dataset: Dataset,
    *,
    quick: bool,
    families: str,
    data_root: Path,
    work: Path,
    timeout_s: float,
) -> Outcome:
    task = bench_task(dataset, quick)
    outcome = Outcome(dataset, task)
    store = work / dataset.name / "store"
    outcome.ingest_s, outcome.notes = ingest(dataset, store, data_root)
    print(f"[{dataset.name}] ingested in {outcome.ingest_s:.1f} s", flush=True)
    plan = backtest_plan(load_tables(dataset, store), task)
    outcome.folds, outcome.series = plan.folds, len(plan.history.series_ids)
    base = {"dataset": dataset.name, "store": str(store), "quick": quick}
    jobs: list[tuple[str, object, dict]] = []
    for spec in our_specs(task, families):
        try:
            family_class(spec.family)
        except ConfigError:
            outcome.skipped[f"ours: {spec.label}"] = "family not in models.registry"
            continue
        first = spec is task.model
        outcome.members.append(f"ours: {spec.label}")
        variants = [(False, f"ours: {spec.label}")]
        if first and target_only(task) is not None:
            variants.append((True, f"ours: {spec.label}, target only"))
        for only, label in variants:
            job = {**base, "spec": spec.model_dump(), "target_only": only, "label": label}
            jobs.append((label, ours_safe, {**job, "keep_baseline": first and not only}))
    jobs.append(("statsforecast", statsforecast_safe, dict(base)))
    jobs.append(("mlforecast", mlforecast_safe, dict(base)))
    frames = []
    for i, (label, fn, job) in enumerate(jobs):
        job["out"] = str(work / dataset.name / f"preds-{i}.parquet")
        t0 = time.perf_counter()
        res = _spawned(fn, job, timeout_s)
        if "error" in res:
            outcome.skipped[label] = res["error"]
            print(f"[{dataset.name}] {label}: FAILED {res['error']}", flush=True)
            continue
        if isinstance(res["seconds"], dict):
            outcome.seconds.update(res["seconds"])
            outcome.skipped.update(res.get("failed", {}))
        else:
            outcome.seconds[label] = res["seconds"]
        if res.get("path"):
            frames.append(pl.read_parquet(res["path"]))
        print(
            f"[{dataset.name}] {label}: done in {time.perf_counter() - t0:.1f} s wall", flush=True
        )
    if not frames:
        return outcome
    preds = pl.concat(frames, how="diagonal_relaxed")
    # the target comes from our backtest (the same grid the peers were fed)
    truth = preds.filter(pl.col("y").is_not_null()).select(*KEYS, "y").unique(KEYS)
    preds = preds.drop("y").join(truth, on=KEYS, how="left")
    preds = with_honest_ours(outcome, preds)
    models = preds["model"].unique(maintain_order=True).to_list()
    front = [m for m in (SELECTED, ENSEMBLE, *outcome.members) if m in models]
    models = [*front, *(m for m in models if m not in front)]
    outcome.models = models
    outcome.ours_rows = preds.filter(pl.col("model") == models[0]).height
    rows = common_rows(preds, models, dataset.mask_zeros)
    if rows.is_empty():
        raise DataError(f"{dataset.name}: no row that every model forecast")
    outcome.rows = rows.height // max(len(models), 1)
    outcome.scores = score(rows, streamflow=dataset.streamflow)
    return outcome


def with_honest_ours(outcome: Outcome, preds: pl.DataFrame) -> pl.DataFrame:
    """``preds`` plus ``ours: ensemble`` and ``ours: selected`` when more than one of ours ran
    (see ``accuracy_selection``); sets the outcome's headline, members, picks and weights."""
    task = outcome.task
    labels = set(preds["model"].unique().to_list())
    outcome.members = [m for m in outcome.members if m in labels]  # those that ran
    if not outcome.members:
        return preds
    first = f"ours: {task.model.label}"
    first = first if first in outcome.members else outcome.members[0]
    outcome.headline = first
    if len(outcome.members) < 2:
        return preds
    honest = honest_ours(preds, task, outcome.members, first)
    outcome.headline, outcome.chosen, outcome.weights = SELECTED, honest.chosen, honest.weights
    # what the product pays to choose: every member's backtest
    spent = sum(outcome.seconds.get(m, 0.0) for m in outcome.members)
    outcome.seconds[SELECTED] = outcome.seconds[ENSEMBLE] = spent
    return pl.concat([preds, honest.rows.select(preds.columns)], how="vertical_relaxed")


# ---------------------------------------------------------------- report

MAPPING = """## How the folds map

- Ours: `run_backtest` plans the task's folds (the last `folds x fold_length` of the data), fits
  the model once per fold on rows whose target time lies before the fold start (origins within
  `train.history`), then forecasts every origin in the fold (every `backtest.origin_stride`),
  each origin reading data up to itself.
- Peers: the same folds and origins, rebuilt from the same public functions (`data_span`,
  `plan_folds`, `origin_range`), on the same target grid (`target_history`: our binning and
  range masking; gaps forward-filled for the peers, which refuse missing values; forward filling
  reads only the past). One `cross_validation(refit=False)` per fold and model, with
  `n_windows` = the fold's origins and `step_size` = the origin stride: the cutoffs are exactly
  our origins (checked every run), the model is fitted once at the first cutoff (the fold start:
  one grid step more history than ours) and only updated with the data up to each later cutoff,
  as ours is. The history given starts where our training window does (`train.history` plus the
  features' lookback before the fold; MSTL on I-94 reads only the last 8 weeks, see its label).
  Only our horizons are scored; the peers forecast every step up to the longest one
  (mlforecast recursively, its default).
- Calendar: ours reads its calendar features, the baseline's week slots and SARIMAX's daily
  Fourier terms on the clock of the task's `features.timezone` (the city's Asia/Shanghai by
  default). The sub-daily US tasks set their own: I-94 America/Chicago, METR-LA
  America/Los_Angeles, Walnut Creek America/New_York (Raleigh NC), as the peers' date features
  are read in the data's zone. (Before the field existed ours read I-94's hours 13 or 14 hours
  off; a diagnostic run with the Chicago clock moved ours' mean MAE there from 255.9 to 249.7.)
  The daily tasks keep the default: their days are bins of the UTC-midnight grid, which a US
  zone would read as the evening of the day before (every weekday and month label moved back
  by one), while Asia/Shanghai reads them at 08:00 of the same date; either way a constant
  relabelling that a tree model's categories do not notice. Holiday flags (`holiday`, `workday`,
  SARIMAX's `calendar`) are Chinese: the US tasks' SARIMAX candidates set `calendar: []`, and
  I-94 counts US holidays from its own event series.
- Ours, several of them: each task config lists `candidates` besides its `model`, fixed before
  the runs (`--families config`, the default; `all` adds every other registered family at its
  defaults). Each runs as its own backtest (own process, same folds) and keeps its own column.
  From their predictions, on the rows every one of them forecast: `ours: ensemble`, the
  inverse-error ensemble of the `selection.top` best (`training.selection.ensemble_predictions`)
  whose weights on each fold come only from the folds before it (equal on the first); and
  `ours: selected`, a walk-forward selection: on each fold the member, or the ensemble, with
  the lowest mean primary metric (`selection.metric`, MAE) over the folds before it, the
  config's `model` on the first fold. That is what the product would have shipped at each
  fold's start, so no choice reads the fold it is scored on. `ours: selected` is the headline
  (first column, the verdict) where more than one of ours ran; its seconds are every member's
  together (choosing costs them all).
- Nothing is tuned on the evaluation windows: our configs and the peers' settings were fixed
  before the runs (one change after the first smoke run: annual-cycle date features dropped
  where there is a single year of training, for ours and the peers alike)."""


def _fmt(value: float | None, metric: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if "coverage" in metric:
        return f"{value:.1%}"
    if metric == "seconds":
        return f"{value:,.1f}"
    return f"{value:.3f}" if abs(value) < 100 else f"{value:,.1f}"


def _peer(model: str) -> bool:
    return model.startswith(("statsforecast", "mlforecast"))


def primary(outcome: Outcome) -> dict[str, float]:
    """Each model's MAE averaged over the horizons (every horizon weighs the same)."""
    mae = outcome.scores.filter(pl.col("metric") == "MAE")
    return dict(mae.group_by("model").agg(pl.col("value").mean()).iter_rows())


def verdict(outcome: Outcome) -> tuple[str, str, float, float] | None:
    """``(ours, best peer, ours' MAE, the peer's)`` on the primary metric."""
    means = primary(outcome)
    ours = outcome.headline
    peers = {m: v for m, v in means.items() if _peer(m)}
    if ours not in means or not peers:
        return None
    best = min(peers, key=peers.get)
    return ours, best, means[ours], peers[best]


def dataset_table(outcome: Outcome) -> str:
    models, scores = outcome.models, outcome.scores
    head = "| horizon | metric | " + " | ".join(models) + " |"
    lines = [head, "|---|---|" + "--:|" * len(models)]
    present = set(scores["metric"].to_list())
    metrics = [m for m in METRICS if m in present]
    lookup = {(m, h, k): v for m, h, k, v in scores.iter_rows()}
    from features.durations import format_duration

    for horizon in scores["horizon"].unique().sort().to_list():
        for metric in metrics:
            cells = [_fmt(lookup.get((m, horizon, metric)), metric) for m in models]
            if all(c == "-" for c in cells):
                continue
            best = _best_cell(metric, [lookup.get((m, horizon, metric)) for m in models])
            cells = [f"**{c}**" if i == best else c for i, c in enumerate(cells)]
            lines.append(f"| {format_duration(horizon)} | {metric} | " + " | ".join(cells) + " |")
    means = primary(outcome)
    lines.append("| mean | MAE | " + " | ".join(_fmt(means.get(m), "MAE") for m in models) + " |")
    lines.append(
        "| - | seconds | "
        + " | ".join(
            _fmt(outcome.seconds.get(m), "seconds") if m in outcome.seconds else "(with ours)"
            for m in models
        )
        + " |"
    )
    return "\n".join(lines)


def _best_cell(metric: str, values: list[float | None]) -> int | None:
    vals = [(i, v) for i, v in enumerate(values) if v is not None and not math.isnan(v)]
    if not vals:
        return None
    if "coverage" in metric:
        return min(vals, key=lambda p: abs(p[1] - LEVEL / 100))[0]
    if "NSE" in metric or "KGE" in metric:
        return max(vals, key=lambda p: p[1])[0]
    return min(vals, key=lambda p: p[1])[0]


def describe(outcome: Outcome) -> str:
    task, d = outcome.task, outcome.dataset
    folds = outcome.folds
    fold_text = (
        f"{len(folds)} x {task.backtest.fold_length} from {folds[0].start:%Y-%m-%d %H:%M} to "
        f"{folds[-1].end:%Y-%m-%d %H:%M} UTC, origins every {task.backtest.origin_stride}"
        if folds
        else "no folds"
    )
    lines = [
        f"### {d.name}: `{task.name}` ({task.target.signal}, {outcome.series} series)",
        "",
        f"- task: `experiments/bench/tasks/{d.task}`; grid {task.frequency}, horizons "
        f"{', '.join(task.horizons)}; folds {fold_text}; {d.note}",
        f"- ingest through the adapters ({', '.join(s.fmt for s in d.sources)}): "
        f"{outcome.ingest_s:.1f} s",
        f"- rows scored per model: {outcome.rows:,} of ours' {outcome.ours_rows:,} "
        "(target observed" + (", non-zero" if d.mask_zeros else "") + ", every model forecast)",
    ]
    if outcome.notes:
        lines.append("- what the adapters did (their notes):")
        lines += [f"  - {note}" for note in outcome.notes]
    for label, why in outcome.skipped.items():
        lines.append(f"- skipped {label}: {why}")
    if outcome.chosen:
        lines.append(
            f"- {SELECTED}, picked at each fold's start from the earlier folds' mean "
            f"{task.selection.metric.upper()} (fold 1: the config's model): {picks(outcome)}; "
            f"{ENSEMBLE}: the best {task.selection.top} by inverse error, weights from the "
            "earlier folds (equal on fold 1); after the last fold it would ship "
            + ", ".join(f"{m.removeprefix('ours: ')} {w:.2f}" for m, w in outcome.weights.items())
        )
    if d.streamflow and not outcome.scores.is_empty():
        nse_rows = outcome.scores.filter(pl.col("metric") == "NSE (median)")
        first = nse_rows["horizon"].min()
        at_first = dict(nse_rows.filter(pl.col("horizon") == first).select("model", "value").rows())
        ours_nse = at_first.get(outcome.headline)
        peer_nse = max((v for m, v in at_first.items() if _peer(m)), default=math.nan)
        lines.append(
            f"- NSE (median over {outcome.series} series) at the first horizon: ours "
            f"{_fmt(ours_nse, 'NSE')}, best peer {_fmt(peer_nse, 'NSE')}. For scale only: the "
            "CAMELS LSTM benchmark (Kratzert et al. 2019) reaches a median NSE of about 0.7 on "
            "hundreds of basins over decades, simulating flow from forcing alone; here a few "
            "basins or gauges, a short record, forecasting with the observed flow up to the "
            "origin and no rain forecast for the day ahead"
        )
    if d.mae_in and not outcome.scores.is_empty():
        unit, factor = d.mae_in
        ours = outcome.scores.filter(
            (pl.col("model") == outcome.headline) & (pl.col("metric") == "MAE")
        ).sort("horizon")
        shown = " / ".join(f"{v * factor:.2f}" for v in ours["value"])
        lines.append(f"- {outcome.headline}'s MAE in {unit}: {shown}")
    v = verdict(outcome)
    if v:
        ours, best, a, b = v
        gain = (b - a) / b if b else math.nan
        word = "beats" if a < b else "loses to"
        wins, n = horizon_wins(outcome)
        lines.append(
            f"- **{ours} {word} the best peer ({best})** on mean MAE over the horizons: "
            f"{_fmt(a, 'MAE')} vs {_fmt(b, 'MAE')} ({gain:+.1%}); lowest MAE of ours and every "
            f"peer at {wins} of {n} horizons"
        )
    return "\n".join(lines)


def horizon_wins(outcome: Outcome) -> tuple[int, int]:
    """At how many horizons ours' MAE is below every peer's."""
    mae = outcome.scores.filter(pl.col("metric") == "MAE")
    ours = outcome.headline
    wins = n = 0
    for _, g in mae.group_by("horizon"):
        values = dict(g.select("model", "value").rows())
        peers = [v for m, v in values.items() if _peer(m)]
        if ours in values and peers:
            n += 1
            wins += values[ours] < min(peers)
    return wins, n


def picks(outcome: Outcome) -> str:
    """``1 lightgbm, 2 ensemble, ...``: the walk-forward pick per fold (folds from 1)."""
    if not outcome.chosen:
        return outcome.headline.removeprefix("ours: ") + " (only one of ours)"
    return ", ".join(f"{k + 1} {m.removeprefix('ours: ')}" for k, m in outcome.chosen.items())


def summary_table(outcomes: list[Outcome]) -> str:
    lines = [
        "| dataset | ours | ours mean MAE | best peer | peer mean MAE | ours vs best peer "
        "| picked per fold |",
        "|---|---|--:|---|--:|--:|---|",
    ]
    for o in outcomes:
        v = verdict(o)
        if v is None:
            lines.append(f"| {o.dataset.name} | - | - | - | - | - | - |")
            continue
        ours, best, a, b = v
        lines.append(
            f"| {o.dataset.name} | {ours} | {_fmt(a, 'MAE')} | {best} | {_fmt(b, 'MAE')} "
            f"| {(b - a) / b:+.1%} | {picks(o)} |"
        )
    return "\n".join(lines)


def family_table(outcomes: list[Outcome]) -> str:
    """Each of ours' columns per dataset: mean MAE, against the best peer, backtest seconds."""
    lines = [
        "| dataset | ours | mean MAE | vs best peer | seconds |",
        "|---|---|--:|--:|--:|",
    ]
    for o in outcomes:
        v = verdict(o)
        means = primary(o)
        peer = v[3] if v else math.nan
        for m in (SELECTED, ENSEMBLE, *o.members):
            if m not in means:
                continue
            lines.append(
                f"| {o.dataset.name} | {m.removeprefix('ours: ')} | {_fmt(means[m], 'MAE')} "
                f"| {(peer - means[m]) / peer:+.1%} | {_fmt(o.seconds.get(m), 'seconds')} |"
            )
    return "\n".join(lines)


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    import lightgbm
    import mlforecast
    import statsforecast

    return (
        f"{cpu}, {os.cpu_count()} cores, {mem_kb / 1024**2:.0f} GiB RAM, {platform.system()}; "
        f"Python {platform.python_version()}, Polars {pl.__version__}, LightGBM "
        f"{lightgbm.__version__}, statsforecast {statsforecast.__version__}, mlforecast "
        f"{mlforecast.__version__}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--datasets",
        default=",".join(DATASETS),
        help=f"comma-separated, from: {', '.join(DATASETS)} (default all)",
    )
    parser.add_argument("--quick", action="store_true", help="only the last fold of each task")
    parser.add_argument(
        "--families",
        default="config",
        help="ours: 'config' (each task's model and candidates, the default), 'all' (those and "
        f"every other of {', '.join(CANDIDATE_FAMILIES)} at its defaults) or a comma-separated "
        "list of families or candidate names; the config's model always runs, and families "
        "that models.registry does not know are skipped",
    )
    parser.add_argument("--data", type=Path, default=DATA, help="the real data folder")
    parser.add_argument(
        "--threads", type=int, default=1, help="threads per implementation (default 1)"
    )
    parser.add_argument(
        "--job-timeout",
        type=float,
        default=900.0,
        help="seconds one implementation may run on one dataset before it is killed and "
        "reported as timed out (default 900)",
    )
    parser.add_argument("--no-record", action="store_true", help="do not write the results file")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    unknown = [n for n in names if n not in DATASETS]
    if unknown:
        parser.error(f"unknown datasets {unknown}; known: {', '.join(DATASETS)}")
    if not args.data.exists():
        parser.error(f"the real data folder {args.data} is absent")
    # Every spawned implementation gets the same thread budget. OpenMP (LightGBM) spinning on a
    # shared, oversubscribed machine made 2 threads 30 times slower than 1 in a trial run.
    for var in THREAD_VARIABLES:
        os.environ[var] = str(args.threads)

    started, load_before = time.perf_counter(), os.getloadavg()
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="citybrain-accuracy-") as tmp:
        for name in names:
            t0 = time.perf_counter()
            try:
                outcome = run_dataset(
                    DATASETS[name],
                    quick=args.quick,
                    families=args.families,
                    data_root=args.data,
                    work=Path(tmp),
                    timeout_s=args.job_timeout,
                )
            except CitybrainError as err:
                print(f"[{name}] FAILED: {err}", flush=True)
                continue
            outcomes.append(outcome)
            print(f"\n{describe(outcome)}\n\n{dataset_table(outcome)}\n", flush=True)
            print(f"[{name}] {time.perf_counter() - t0:.0f} s", flush=True)
    total = time.perf_counter() - started
    load_after = os.getloadavg()
    summary = summary_table(outcomes) + "\n\nEach of ours (seconds: its backtest; selected and "
    summary += "ensemble: every member's together, what choosing costs):\n\n"
    summary += family_table(outcomes)
    print(summary)
    print(
        f"total {total:.0f} s; load average {load_before[0]:.1f} before, {load_after[0]:.1f} after"
    )
    if args.no_record:
        return
    command = "python experiments/bench/accuracy.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    body = "\n\n".join(f"{describe(o)}\n\n{dataset_table(o)}" for o in outcomes)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        "# Accuracy benchmark results (real data)\n\n"
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n"
        f"- machine: {machine()}\n"
        f"- threads: {args.threads} per implementation (OMP, Polars, numba, BLAS)\n"
        f"- load: 1-minute load average {load_before[0]:.1f} at the start, "
        f"{load_after[0]:.1f} at the end (the machine is shared; seconds are wall time)\n"
        f"- command: `.venv/bin/{command.strip()}`"
        + (" (quick: the last fold of each task only)" if args.quick else "")
        + f"\n- total: {total:.0f} s\n\n"
        "## Summary\n\nPrimary metric: MAE averaged over the task's horizons"
        " (masked for METR-LA), on the rows every model forecast; best peer chosen on the same"
        " windows, so the comparison is, if anything, generous to the peers.\n\n"
        f"{summary}\n\n{MAPPING}\n\n## Per dataset\n\n"
        "Bold: the best value of the row (coverage: closest to "
        f"{LEVEL} %). Seconds: wall time of the whole backtest (ours: features, fit and forecast "
        "for every fold, model and baseline together; peers: their cross-validation per "
        "model).\n\n"
        f"{body}\n"
    )
    print(f"recorded in {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
