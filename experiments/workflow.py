"""A data scientist's starting point: backtest a task, compare its models, then train.

    .venv/bin/python experiments/workflow.py --data data --task waterlogging
    .venv/bin/python experiments/workflow.py --data data --task hotline --candidate sarimax --train
    .venv/bin/python experiments/workflow.py --data data --task traffic --tune 20

Everything here is the library the command line uses, so a notebook can copy any step: the
task config is loaded (and may be edited in code), the backtest runs every model on the same
folds, ``training.metrics.score_table`` scores each one, and ``train_task`` logs to MLflow and
registers the result behind the guarded promotion.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import polars as pl

from features import SIGNALS, CityTables, ModelSpec, Store, load_task
from training import (
    TrackingSettings,
    TuningRequest,
    by_horizon,
    run_backtest,
    score_table,
    train_task,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="canonical data folder")
    parser.add_argument("--task", default="waterlogging", help="shipped task name or YAML path")
    parser.add_argument(
        "--candidate", action="append", default=[], help="extra family to compare (repeatable)"
    )
    parser.add_argument("--train", action="store_true", help="train and register afterwards")
    parser.add_argument("--tune", type=int, default=None, help="Optuna trials before training")
    args = parser.parse_args()

    task = load_task(args.task)
    if args.candidate:
        extra = tuple(ModelSpec(family=f) for f in args.candidate)
        task = task.model_copy(update={"candidates": (*task.candidates, *extra)})
    tables = CityTables.from_store(Store(args.data))

    # 1. every model on the same folds and origins
    result = run_backtest(tables, task)
    preds = result.predictions
    sig = SIGNALS.get(task.target.signal)
    lower = sig.low if sig is not None and sig.low == 0.0 else None
    rows = []
    for model in preds["model"].unique().sort().to_list():
        mine = preds.filter(pl.col("model") == model)
        scores = score_table(
            mine.drop([c for c in mine.columns if c.startswith("p_")]),
            task.quantiles,
            lower_bound=lower,
            discrete=bool(sig and sig.discrete),
        )
        rows.append({"model": model, **{k: round(v, 4) for k, v in scores.items()}})
    print(pl.DataFrame(rows).sort("mae"))
    if result.selection is not None:
        print("selected:", result.selection.reason)

    # 2. where in the horizon the chosen model gains over the baseline
    for model in (result.chosen, result.baseline):
        table = by_horizon(preds.filter(pl.col("model") == model), ("mae", "rmse"))
        print(model, table, sep="\n")

    # 3. train (optionally tuned), log to MLflow, register behind the guarded promotion
    if args.train or args.tune:
        tuning = TuningRequest(args.tune) if args.tune else None
        outcome = train_task(tables, task, settings=TrackingSettings(), tuning=tuning)
        print(f"registered {outcome.model_name} v{outcome.version}: {outcome.alias}")
        print(outcome.reason)


if __name__ == "__main__":
    main()
