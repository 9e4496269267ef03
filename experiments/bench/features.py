"""Speed of the traffic task's features: ``build_features`` against pandas and mlforecast.

Generates a year of 5-minute speeds at road sensors on a ring-shaped road graph (gaps included,
seeded, never written to the repository), then times in one run:

- ours: ``features.pipeline.build_features`` for the traffic task, without the covariates whose
  data the benchmark does not generate (ponding, rain, rain forecasts);
- pandas: the same features written here the obvious pandas way (groupby shift and rolling, a
  merge on the exploded neighbour lists, a cross merge for the horizons), checked equal to ours;
- mlforecast: its lags and rolling mean/std/min over the same windows, against ours building
  only those features for every 5-minute origin and one horizon.

Each implementation runs in a fresh spawned process, so its peak RSS (``VmHWM``, which sees
Polars' and numpy's allocations alike) is its own; seconds are the best of ``--repeats`` runs.

    .venv/bin/python experiments/bench/features.py [--sensors 210 --days 365] [--quick]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder would shadow the ``features`` package with this module.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import multiprocessing as mp  # noqa: E402
import os  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from queue import Empty  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import polars as pl  # noqa: E402

from features import (  # noqa: E402
    LOCAL_TZ,
    SIGNALS,
    CityTables,
    TaskConfig,
    WindowStat,
    build_features,
    conform,
    holidays,
    load_task,
    lookback,
    origin_range,
    punctual,
    regular_grid,
    steps,
    task_tables,
)

sys.path.append(str(_HERE))  # after the package imports: this folder's helpers, no shadowing
import machine_info  # noqa: E402

START = datetime(2024, 1, 1, tzinfo=UTC)
RESULTS = _HERE / "results" / "features.md"
_MIN_PRESENT = 0.8  # the pipeline's rule: a window needs 80 % of its bins


# ---------------------------------------------------------------- data and tasks


def road_tables(sensors: int, days: int, *, seed: int = 7) -> CityTables:
    """Speeds every 5 minutes at ``sensors`` road sensors on a ring road with cross links.

    Each sensor has 2-4 neighbours; about 1 % of readings are missing at random, plus up to
    four outages of 1-12 hours per sensor, and one reading in 50,000 is out of range (masked).
    """
    rng = np.random.default_rng(seed)
    n_t = days * 288
    names = [f"road:s{i:04d}" for i in range(sensors)]
    minutes = np.arange(n_t) * 5
    hour = (minutes / 60 + 8) % 24  # local time (UTC+8)
    weekday = (minutes // 1440) % 7  # 2024-01-01 is a Monday
    rush = np.exp(-((hour - 8) ** 2) / 2) + np.exp(-((hour - 18) ** 2) / 3)
    rush = rush * np.where(weekday < 5, 1.0, 0.4)
    free_flow = rng.uniform(40, 100, sensors)
    severity = rng.uniform(0.2, 0.6, sensors)
    speed = free_flow[:, None] * (1 - severity[:, None] * rush[None, :])
    speed = np.clip(speed + rng.normal(0, 3, (sensors, n_t)), 1, 150)
    speed[rng.random(speed.shape) < 2e-5] = 250.0
    keep = rng.random(speed.shape) > 0.01
    for i in range(sensors):
        for _ in range(rng.integers(0, 5)):
            s = rng.integers(0, n_t)
            keep[i, s : s + rng.integers(12, 145)] = False
    sensor = np.repeat(np.arange(sensors, dtype=np.int64), n_t)[keep.ravel()]
    ts = np.tile(np.arange(n_t, dtype=np.int64) * 300_000_000, sensors)[keep.ravel()]
    observations = pl.DataFrame(
        {
            "series_id": pl.Series(names).gather(sensor),
            "ts": pl.Series(ts + int(START.timestamp() * 1e6)).cast(pl.Datetime("us", "UTC")),
            "value": speed.ravel()[keep.ravel()],
        }
    )
    attrs = []
    for i in range(sensors):
        near = {(i - 1) % sensors, (i + 1) % sensors}
        if i % 3 == 0:
            near.add((i + sensors // 2) % sensors)
        if i % 5 == 0:
            near.add((i + 2) % sensors)
        near.discard(i)
        attrs.append(
            json.dumps(
                {
                    "neighbours": [names[j] for j in sorted(near)],
                    "free_flow_kmh": round(float(free_flow[i]), 1),
                }
            )
        )
    series = pl.DataFrame(
        {
            "series_id": names,
            "signal": "speed_kmh",
            "unit": "km/h",
            "area_id": [f"district_{i % 7}" for i in range(sensors)],
            "attrs": attrs,
        }
    )
    empty = CityTables.empty()
    return CityTables(
        series=conform("series", series),
        observations=conform("observations", observations),
        events=empty.events,
        weather_forecasts=empty.weather_forecasts,
        areas=empty.areas,
    )


def traffic_task(*, subset: bool = False) -> TaskConfig:
    """The shipped traffic task without ponding, rain and rain forecasts (no data for them).

    ``subset``: only what mlforecast's lag transforms also compute (target lags and rolling
    mean/std/min), at the first horizon, with no calendar and no series code.
    """
    task = load_task("traffic")
    r = task.features
    if subset:
        stats = tuple(s for s in r.target_stats if s.stat in ("mean", "std", "min"))
        features = r.model_copy(
            update={
                "target_maxes": (),
                "target_changes": (),
                "target_stats": stats,
                "season_ref": None,
                "observed": (),
                "events": (),
                "known_ahead": (),
                "calendar": (),
                "series_category": False,
            }
        )
        return task.model_copy(update={"features": features, "horizons": task.horizons[:1]})
    observed = tuple(c for c in r.observed if c.link.startswith("members:"))
    features = r.model_copy(update={"observed": observed, "known_ahead": (), "events": ()})
    return task.model_copy(update={"features": features})


def bench_origins(task: TaskConfig, days: int, stride: timedelta) -> pl.Series:
    """Every ``stride`` from the end of the lookback to the last origin whose horizons are data."""
    first = START + lookback(task)
    horizon = task.max_horizon
    last = START + timedelta(days=days) - task.step - horizon
    return origin_range(first, last, stride)


# ---------------------------------------------------------------- (a) pandas


def pandas_features(
    series: pd.DataFrame, observations: pd.DataFrame, task: TaskConfig, origins: pd.Series
) -> pd.DataFrame:
    """The task's features written the straightforward pandas way (same rules as ours)."""
    r = task.features
    step = task.step
    horizons = list(task.horizons)
    origins = pd.DatetimeIndex(origins)
    first = origins.min() - lookback(task)
    last = origins.max() + max(horizons)
    fill = steps(r.fill_limit, step)
    ids = pd.CategoricalDtype(sorted(series["series_id"]))
    catalog = series.assign(series_id=series["series_id"].astype(ids))

    # punctual readings, out-of-range values masked
    bounds = pd.DataFrame(
        {
            "series_id": catalog["series_id"],
            "low": catalog["signal"].map({k: v.low for k, v in SIGNALS.items()}),
            "high": catalog["signal"].map({k: v.high for k, v in SIGNALS.items()}),
            "latency": pd.to_timedelta(
                catalog["signal"].map({k: v.latency_s for k, v in SIGNALS.items()}).fillna(0),
                unit="s",
            ),
        }
    )
    obs = observations.assign(series_id=observations["series_id"].astype(ids))
    obs = obs.merge(bounds, on="series_id")
    obs = obs[obs["received_at"].isna() | (obs["received_at"] <= obs["ts"] + obs["latency"])]
    v = obs["value"]
    ok = np.isfinite(v) & ~(v < obs["low"]) & ~(v > obs["high"])
    obs = obs.assign(value=v.where(ok))[["series_id", "ts", "value"]]

    targets = catalog[catalog["signal"] == task.target.signal].sort_values("series_id")
    grid = _pd_grid(obs, targets["series_id"], task.target.signal, first, last, step)
    grid["target_now"] = grid.groupby("series_id", observed=True)["raw"].ffill(limit=fill)
    now = grid.groupby("series_id", observed=True)["target_now"]
    for lag in r.target_lags:
        grid[f"target_lag_{lag}"] = now.shift(steps(lag, step))
    for w in r.target_maxes:
        grid[f"target_max_{w}"] = _pd_rolling(now, WindowStat(stat="max", window=w), step)
    for w in r.target_changes:
        grid[f"target_change_{w}"] = grid["target_now"] - now.shift(steps(w, step))
    for st in r.target_stats:
        grid[f"target_{st.label}"] = _pd_rolling(now, st, step)
    rows = grid[grid["ts"].isin(origins)].drop(columns="raw").rename(columns={"ts": "origin"})

    for cov in r.observed:
        if not cov.link.startswith("members:") or cov.sums or cov.api_days or cov.dry_hours:
            raise NotImplementedError(f"the pandas reference has no {cov.name} covariate")
        members = catalog.loc[catalog["signal"] == cov.signal, "series_id"].sort_values()
        cg = _pd_grid(obs, members, cov.signal, first, origins.max(), step)
        cg["value"] = cg.groupby("series_id", observed=True)["raw"].ffill(limit=fill)
        key = cov.link.removeprefix("members:")
        lists = pd.DataFrame(
            {
                "source": targets["series_id"],
                "member": targets["attrs"].map(lambda a, k=key: json.loads(a or "{}").get(k)),
            }
        ).explode("member")
        lists = lists.dropna().astype({"member": ids})
        mean = (
            lists.merge(cg.rename(columns={"series_id": "member"}), on="member")
            .groupby(["source", "ts"], observed=True)["value"]
            .mean()
            .reset_index()
            .sort_values(["source", "ts"])
        )
        src = mean.groupby("source", observed=True)["value"]
        for w in cov.changes:
            mean[f"{cov.name}_change_{w}"] = mean["value"] - src.shift(steps(w, step))
        for w in cov.maxes:
            mean[f"{cov.name}_max_{w}"] = _pd_rolling(src, WindowStat(stat="max", window=w), step)
        for st in cov.stats:
            mean[f"{cov.name}_{st.label}"] = _pd_rolling(src, st, step)
        if cov.level:
            mean[f"{cov.name}_level"] = mean["value"]
        mean = mean.drop(columns="value").rename(columns={"source": "series_id", "ts": "origin"})
        rows = rows.merge(mean, on=["series_id", "origin"], how="left")
    rows = rows.merge(targets[["series_id", "area_id"]], on="series_id", how="left")

    hz = pd.DataFrame(
        {
            "horizon": pd.to_timedelta(horizons),
            "horizon_min": np.array([h // timedelta(minutes=1) for h in horizons], np.int32),
        }
    )
    out = rows.merge(hz, how="cross")
    out["ts"] = out["origin"] + out["horizon"]
    if r.season_ref:
        season = pd.Timedelta(r.season_ref)
        out["_ref_ts"] = out["ts"] - season * (-(-out["horizon"] // season))
        ref = grid[["series_id", "ts", "target_now"]].rename(
            columns={"ts": "_ref_ts", "target_now": "seasonal_ref"}
        )
        out = out.merge(ref, on=["series_id", "_ref_ts"], how="left").drop(columns="_ref_ts")
    for name, values in _pd_calendar(out["ts"], r.calendar).items():
        out[f"cal_{name}"] = values
    y = grid[["series_id", "ts", "raw"]].rename(columns={"raw": "y"})
    out = out.merge(y, on=["series_id", "ts"], how="left")
    if r.series_category:
        codes = pd.Categorical(out["series_id"], categories=targets["series_id"].astype(str))
        out["series_code"] = codes.codes.astype(np.int32)
    return out.sort_values(["series_id", "origin", "horizon"], ignore_index=True)


def _pd_grid(
    obs: pd.DataFrame, keys: pd.Series, signal: str, start, end, step: timedelta
) -> pd.DataFrame:
    """``series_id, ts, raw`` for every key and grid time; readings binned into ``(t-step, t]``."""
    obs = obs[obs["series_id"].isin(keys) & (obs["ts"] > start - step) & (obs["ts"] <= end)]
    how = SIGNALS[signal].aggregation
    by = obs.groupby([obs["series_id"], obs["ts"].dt.ceil(pd.Timedelta(step))], observed=True)
    binned = by["value"].sum(min_count=1) if how == "sum" else by["value"].agg(how)
    index = pd.MultiIndex.from_product(
        [pd.CategoricalIndex(keys), pd.date_range(start, end, freq=step)], names=["series_id", "ts"]
    )
    return binned.reindex(index).rename("raw").reset_index()


def _pd_rolling(grouped, st: WindowStat, step: timedelta) -> pd.Series:
    n = steps(st.window, step)
    min_periods = max(1, math.ceil(_MIN_PRESENT * n))
    if st.stat == "std":
        min_periods = max(2, min_periods)
    if st.stat == "quantile":
        raise NotImplementedError("the pandas reference has no rolling quantile")
    out = getattr(grouped.rolling(n, min_periods=min_periods), st.stat)().droplevel(0)
    return out if st.stat in ("max", "min") else out.round(9)


def _pd_calendar(ts: pd.Series, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    local = ts.dt.tz_convert(LOCAL_TZ)
    out: dict[str, np.ndarray] = {}
    day_columns = {
        "holiday": "is_holiday",
        "workday": "is_workday",
        "school_term": "school_term",
        "spring_festival": "days_to_spring_festival",
    }
    if any(n in day_columns for n in names):
        dates = local.dt.tz_localize(None).dt.normalize()
        table = holidays.day_table(dates.min().date(), dates.max().date()).to_pandas()
        table = table.set_index(pd.to_datetime(table["date"]))
    for name in names:
        if name in day_columns:
            values = dates.map(table[day_columns[name]].astype(np.int32))
        elif name == "minute_of_day":
            values = local.dt.hour * 60 + local.dt.minute
        elif name == "hour_of_week":
            values = local.dt.dayofweek * 24 + local.dt.hour
        else:
            values = {
                "hour": local.dt.hour,
                "weekday": local.dt.dayofweek + 1,
                "month": local.dt.month,
                "doy": local.dt.dayofyear,
            }[name]
        out[name] = values.to_numpy(np.int32)
    return out


# ---------------------------------------------------------------- (b) mlforecast


def mlforecast_input(tables: CityTables, task: TaskConfig, origins: pl.Series) -> pl.DataFrame:
    """``unique_id, ds, y``: the target on its complete grid, as mlforecast needs it.

    mlforecast refuses nulls, so after the pipeline's forward fill (``fill_limit``) the longer
    gaps are filled too (forward, then backward); its features differ from ours only there.
    """
    step = task.step
    obs = punctual(tables.observations, tables.series)
    grid = regular_grid(
        obs,
        aggregation=SIGNALS[task.target.signal].aggregation,
        step=step,
        start=origins.min() - lookback(task),
        end=origins.max(),
    )
    fill = steps(task.features.fill_limit, step)
    y = pl.col("value").forward_fill(limit=fill).forward_fill().backward_fill().over("series_id")
    return grid.select(
        pl.col("series_id").alias("unique_id"), pl.col("ts").alias("ds"), y.alias("y")
    )


def mlforecast_features(frame: pl.DataFrame, task: TaskConfig) -> pl.DataFrame:
    """mlforecast's lags and rolling statistics over the same windows (in grid steps).

    Its lag transforms read the target up to the step before ``ds``, ours up to the origin, so
    its rolling columns at ``ds`` equal ours at ``ds - step``: the same work, one row apart.
    """
    from mlforecast.core import TimeSeries
    from mlforecast.lag_transforms import RollingMean, RollingMin, RollingStd

    step, r = task.step, task.features
    kinds = {"mean": RollingMean, "std": RollingStd, "min": RollingMin}
    transforms = []
    for st in r.target_stats:
        n = steps(st.window, step)
        min_samples = max(1, math.ceil(_MIN_PRESENT * n))
        min_samples = max(2, min_samples) if st.stat == "std" else min_samples
        transforms.append(kinds[st.stat](n, min_samples=min_samples))
    ts = TimeSeries(
        freq=str(task.frequency),
        lags=[steps(lag, step) for lag in r.target_lags],
        lag_transforms={1: transforms},
        num_threads=os.cpu_count() or 1,
    )
    return ts.fit_transform(frame, "unique_id", "ds", "y", static_features=[], dropna=False)


# ---------------------------------------------------------------- agreement


def check_agreement(*, sensors: int = 12, days: int = 22) -> None:
    """Raise unless pandas equals ours, and mlforecast equals ours where no window has a gap."""
    tables = road_tables(sensors, days, seed=11)
    task = traffic_task()
    origins = bench_origins(task, days, task.step)
    ours = build_features(task_tables(tables, task, live_until=origins.max()), origins).to_pandas()
    theirs = pandas_features(
        tables.series.to_pandas(), tables.observations.to_pandas(), task, origins.to_pandas()
    )
    if set(ours.columns) != set(theirs.columns) or len(ours) != len(theirs):
        raise AssertionError(f"pandas differs in shape: {ours.shape} vs {theirs.shape}")
    for col in ours.columns:
        a, b = ours[col], theirs[col]
        if pd.api.types.is_float_dtype(a):
            same = np.allclose(a.to_numpy(float), b.to_numpy(float), atol=1e-6, equal_nan=True)
        elif pd.api.types.is_integer_dtype(a):
            same = np.array_equal(a.to_numpy(np.int64), b.to_numpy(np.int64))
        else:
            same = bool((a.astype(str).to_numpy() == b.astype(str).to_numpy()).all())
        if not same:
            raise AssertionError(f"pandas differs from ours in {col}")

    sub = traffic_task(subset=True)
    origins = bench_origins(sub, days, sub.step)
    ours = build_features(
        task_tables(tables, sub, live_until=origins.max()), origins, with_target=False
    )
    ml = mlforecast_features(mlforecast_input(tables, sub, origins), sub)
    gap = pl.col("target_now").is_null().cast(pl.Int32).rolling_sum(13, min_samples=1)
    ours = ours.with_columns(gap.over("series_id").alias("_gap")).filter(pl.col("_gap") == 0)
    lag_cols = [f"target_lag_{lag}" for lag in sub.features.target_lags]
    stat_cols = [f"target_{st.label}" for st in sub.features.target_stats]
    ml_cols = ml.columns[3:]
    lags = ml.select(
        pl.col("unique_id").alias("series_id"),
        pl.col("ds").alias("origin"),
        *(
            pl.col(c).alias(f"ml_{o}")
            for c, o in zip(ml_cols[: len(lag_cols)], lag_cols, strict=True)
        ),
    )
    stats = ml.select(
        pl.col("unique_id").alias("series_id"),
        (pl.col("ds") - sub.step).alias("origin"),
        *(
            pl.col(c).alias(f"ml_{o}")
            for c, o in zip(ml_cols[len(lag_cols) :], stat_cols, strict=True)
        ),
    )
    both = ours.join(lags, on=["series_id", "origin"]).join(stats, on=["series_id", "origin"])
    if both.height < ours.height * 0.95:
        raise AssertionError("mlforecast rows do not line up with ours")
    for col in lag_cols + stat_cols:
        if not np.allclose(both[col].to_numpy(), both[f"ml_{col}"].to_numpy(), atol=1e-6):
            raise AssertionError(f"mlforecast differs from ours in {col}")
    print(
        f"agreement: pandas == ours ({len(theirs):,} rows), mlforecast == ours "
        f"({both.height:,} gap-free rows)"
    )


# ---------------------------------------------------------------- timing


def _measure(job: str, data: str, stride_min: int, repeats: int, queue) -> None:
    """Run one implementation ``repeats`` times in this (fresh) process; report to ``queue``."""
    root = Path(data)
    days = json.loads((root / "meta.json").read_text())["days"]
    subset = job in ("ours-subset", "mlforecast", "mlforecast+grid")
    task = traffic_task(subset=subset)
    stride = task.step if subset else timedelta(minutes=stride_min)
    origins = bench_origins(task, days, stride)
    if job == "pandas":
        series = pd.read_parquet(root / "series.parquet")
        observations = pd.read_parquet(root / "observations.parquet")
        run = lambda: pandas_features(series, observations, task, origins.to_pandas())  # noqa: E731
    elif job == "mlforecast":
        frame = pl.read_parquet(root / "mlforecast.parquet")
        run = lambda: mlforecast_features(frame, task)  # noqa: E731
    else:
        empty = CityTables.empty()
        tables = CityTables(
            series=pl.read_parquet(root / "series.parquet"),
            observations=pl.read_parquet(root / "observations.parquet"),
            events=empty.events,
            weather_forecasts=empty.weather_forecasts,
            areas=empty.areas,
        )
        if job == "mlforecast+grid":
            run = lambda: mlforecast_features(mlforecast_input(tables, task, origins), task)  # noqa: E731
        else:
            with_target = job == "ours"
            run = lambda: build_features(  # noqa: E731
                task_tables(tables, task, live_until=origins.max()),
                origins,
                with_target=with_target,
            )
    input_mb = _status_mb("VmRSS")
    best, rows = math.inf, 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = run()
        best = min(best, time.perf_counter() - t0)
        rows = len(out)
        del out
    peak_mb = _status_mb("VmHWM")
    queue.put({"job": job, "rows": rows, "seconds": best, "peak_mb": peak_mb, "input_mb": input_mb})


def _status_mb(field: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of this process. Not ``ru_maxrss``: Linux carries
    that over from the parent through fork and exec, so a spawned child would report at least
    the parent's size."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(job: str, data: Path, stride_min: int, repeats: int) -> dict:
    """One implementation in a fresh spawned process, so its peak RSS is its own."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_measure, args=(job, str(data), stride_min, repeats, queue))
    proc.start()
    while True:
        try:
            result = queue.get(timeout=1.0)
            break
        except Empty:
            if not proc.is_alive():
                raise RuntimeError(
                    f"{job} died (exit code {proc.exitcode}); out of memory?"
                ) from None
    proc.join()
    print(f"  {job}: {result['rows']:,} rows in {result['seconds']:.2f} s", flush=True)
    return result


# ---------------------------------------------------------------- report


LABELS = {
    "ours": ("ours (build_features)", "all"),
    "pandas": ("pandas reference", "all"),
    "ours-subset": ("ours (build_features)", "lags+rolling"),
    "mlforecast": ("mlforecast on a prepared grid", "lags+rolling"),
    "mlforecast+grid": ("mlforecast + grid prep (Polars)", "lags+rolling"),
}


def table(results: dict[str, dict]) -> str:
    """Markdown table; ``ours x`` is ours' rows/s over that row's (same features and origins)."""
    lines = [
        "| implementation | features | rows | seconds | rows/s | peak RSS MB | input RSS MB "
        "| ours x |",
        "|---|---|--:|--:|--:|--:|--:|--:|",
    ]
    for job, res in results.items():
        ref = results["ours" if LABELS[job][1] == "all" else "ours-subset"]
        rate = _rate(res)
        ratio = _rate(ref) / rate
        label, feats = LABELS[job]
        lines.append(
            f"| {label} | {feats} | {res['rows']:,} | {res['seconds']:.2f} | {rate:,.0f} "
            f"| {res['peak_mb']:,.0f} | {res['input_mb']:,.0f} | {ratio:.2f} |"
        )
    return "\n".join(lines)


def _rate(result: dict) -> float:
    return result["rows"] / result["seconds"]


def machine() -> str:
    return machine_info.machine(
        ("Polars", "polars"), ("pandas", "pandas"), ("numpy", "numpy"), ("mlforecast", "mlforecast")
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sensors", type=int, default=210)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument(
        "--stride",
        type=int,
        default=30,
        help="minutes between origins for the full feature set (the lags+rolling comparison "
        "always uses every 5-minute origin); 5 needs about 27 GB for a year of 210 sensors",
    )
    parser.add_argument("--repeats", type=int, default=1, help="best of this many runs each")
    parser.add_argument("--quick", action="store_true", help="20 sensors x 21 days, a smoke run")
    parser.add_argument("--no-record", action="store_true", help="do not write the results file")
    args = parser.parse_args(argv)
    if args.quick:
        args.sensors, args.days, args.stride = 20, 21, 5

    check_agreement()
    with tempfile.TemporaryDirectory(prefix="citybrain-bench-") as tmp:
        data = Path(tmp)
        t0 = time.perf_counter()
        tables = road_tables(args.sensors, args.days)
        tables.series.write_parquet(data / "series.parquet")
        tables.observations.write_parquet(data / "observations.parquet")
        sub = traffic_task(subset=True)
        ml_input = mlforecast_input(tables, sub, bench_origins(sub, args.days, sub.step))
        ml_input.write_parquet(data / "mlforecast.parquet")
        (data / "meta.json").write_text(json.dumps({"days": args.days}))
        print(
            f"data: {args.sensors} sensors x {args.days} days, "
            f"{tables.observations.height:,} readings ({time.perf_counter() - t0:.1f} s)",
            flush=True,
        )
        del tables, ml_input
        jobs = ["ours", "pandas", "ours-subset", "mlforecast", "mlforecast+grid"]
        results = {job: measure(job, data, args.stride, args.repeats) for job in jobs}

    text = table(results)
    print(text)
    vs_pandas = _rate(results["ours"]) / _rate(results["pandas"])
    vs_mlforecast = _rate(results["ours-subset"]) / _rate(results["mlforecast"])
    print(
        f"ours vs pandas {vs_pandas:.2f}x (aim >= 5), vs mlforecast {vs_mlforecast:.2f}x (aim >= 1)"
    )
    if args.no_record:
        return
    command = "python experiments/bench/features.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        f"# Feature benchmark results\n\n"
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n"
        f"- machine: {machine()}\n"
        f"- command: `.venv/bin/{command.strip()}`\n"
        f"- data: {args.sensors} sensors x {args.days} days of 5-minute speeds; full features "
        f"at origins every {args.stride} minutes x {len(traffic_task().horizons)} horizons, "
        f"lags+rolling at every 5-minute origin x 1 horizon\n\n"
        f"{text}\n\n"
        f"`ours x`: ours' rows/s over the row's rows/s, against ours on the same features. "
        f"Peak RSS is the process's (spawned fresh per implementation), input RSS what it held "
        f"after loading its input.\n"
    )
    print(f"recorded in {RESULTS.relative_to(_HERE.parents[1])}")


if __name__ == "__main__":
    main()
