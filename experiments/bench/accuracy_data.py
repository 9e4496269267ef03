"""The accuracy benchmark's datasets: raw files, adapters, task configs and what the peers get."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from features import AdapterOptions, CityTables, Store, TaskConfig, ingest_format, load_task

TASKS = Path(__file__).resolve().parent / "tasks"
KEYS = ["series_id", "origin", "horizon"]
LEVEL = 80  # the central interval scored, from q10 and q90


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


# Walnut Creek's stage and discharge: the same files, zone and peers (15-minute grid)
WALNUT = (
    (Source("usgs", ("walnut-creek-usgs",)),),
    "America/New_York",
    Peers(
        (SF("Naive"), SF("AutoETS"), SF("AutoARIMA")),
        lags=(1, 2, 3, 4, 8, 12, 24, 96),
        rolling=(4, 24, 96),
        date_features=("hour",),
    ),
)

DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset(
            "walnut-stage",
            "walnut-creek-stage.yaml",
            *WALNUT,
            note="stage at one gauge; Tropical Storm Debby (2024-08-08) in the first fold",
        ),
        Dataset(
            "walnut-discharge",
            "walnut-creek-discharge.yaml",
            *WALNUT,
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
