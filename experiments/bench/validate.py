"""Choose a bench config honestly: backtest ours on the weeks *before* the evaluation windows.

The accuracy benchmark (``accuracy.py``) scores the last ``folds x fold_length`` of each
dataset; nothing may be tuned there. This script cuts every table at the start of the first
evaluation fold and runs the task's own backtest (same fold layout, so it scores the
``folds x fold_length`` just before) for the config's model as it is and with each parameter
override given, printing MAE per horizon. What it shows may be carried into a task config; the
evaluation windows stay unseen.

    .venv/bin/python experiments/bench/validate.py i94 'auto={"target": "auto"}'

A variant that names a ``family`` is that family with the given parameters instead of the
config's model (``'sarimax={"family": "sarimax", "rain": "rain_gauge"}'``). Where the record
before the evaluation windows is short, ``--folds`` and ``--fold-length`` validate on fewer or
shorter folds than the config's.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder would shadow the ``features`` package with features.py.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import datetime  # noqa: E402

import polars as pl  # noqa: E402

from features import (  # noqa: E402
    CityTables,
    Duration,
    ModelSpec,
    TaskConfig,
)
from training import run_backtest  # noqa: E402

sys.path.append(str(_HERE))
from accuracy_data import DATASETS, bench_task, ingest, load_tables  # noqa: E402
from accuracy_peers import backtest_plan  # noqa: E402


def before(tables: CityTables, cut: datetime) -> CityTables:
    """The tables with every reading, event and forecast issued at or after ``cut`` dropped."""
    return CityTables(
        series=tables.series,
        observations=tables.observations.filter(pl.col("ts") < cut),
        events=tables.events.filter(pl.col("ts") < cut),
        weather_forecasts=tables.weather_forecasts.filter(pl.col("issued_at") < cut),
        areas=tables.areas,
    )


def mae_by_horizon(task: TaskConfig, tables: CityTables) -> pl.DataFrame:
    """The task's model alone (its candidates are not fitted), MAE per horizon."""
    result = run_backtest(tables, task.model_copy(update={"candidates": ()}), progress=False)
    rows = result.predictions.filter(
        (pl.col("model") == task.model.label) & pl.col("y").is_not_null()
    )
    return (
        rows.group_by("horizon")
        .agg((pl.col("y") - pl.col("yhat")).abs().mean().alias("mae"))
        .sort("horizon")
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", choices=sorted(DATASETS))
    parser.add_argument(
        "variants",
        nargs="*",
        help='NAME=JSON: model parameters to override, e.g. \'auto={"target": "auto"}\'',
    )
    parser.add_argument(
        "--data", type=Path, default=_HERE.parents[2] / "shared" / "data", help="real data folder"
    )
    parser.add_argument("--folds", type=int, help="validation folds (default: the config's)")
    parser.add_argument("--fold-length", help="validation fold length, e.g. 7d")
    args = parser.parse_args(argv)
    variants: dict[str, dict] = {"config": {}}
    for text in args.variants:
        name, sep, params = text.partition("=")
        try:
            variants[name] = json.loads(params) if sep else None
        except json.JSONDecodeError as err:
            parser.error(f"variant {name!r}: parameters are not JSON ({err})")
        if not isinstance(variants[name], dict):
            parser.error(f"variant {text!r}: give NAME={{...}} with a JSON object")
    dataset = DATASETS[args.dataset]
    task = bench_task(dataset, quick=False)
    with tempfile.TemporaryDirectory() as work:
        store = Path(work) / "store"
        ingest(dataset, store, args.data)
        tables = load_tables(dataset, store)
        cut = backtest_plan(tables, task).folds[0].start
        early = before(tables, cut)
        fold_length = Duration(args.fold_length) if args.fold_length else None
        layout = {"folds": args.folds, "fold_length": fold_length}
        given = {k: v for k, v in layout.items() if v is not None}
        if given:
            task = task.model_copy(update={"backtest": task.backtest.model_copy(update=given)})
        print(
            f"[{args.dataset}] evaluation windows start {cut:%Y-%m-%d %H:%M} UTC; validating on "
            f"the {task.backtest.folds} x {task.backtest.fold_length} before them",
            flush=True,
        )
        for name, params in variants.items():
            if "family" in params:
                rest = {k: v for k, v in params.items() if k != "family"}
                model = ModelSpec(family=params["family"], name=name, params=rest)
            else:
                update = {"params": {**task.model.params, **params}}
                model = task.model.model_copy(update=update)
            t0 = time.perf_counter()
            table = mae_by_horizon(task.model_copy(update={"model": model}), early)
            cells = ", ".join(
                f"{int(h.total_seconds() // 60)}m {m:.4g}" for h, m in table.iter_rows()
            )
            print(
                f"{name:>12}: mean MAE {table['mae'].mean():.4g} ({cells}); "
                f"{time.perf_counter() - t0:.0f} s",
                flush=True,
            )


if __name__ == "__main__":
    main()
