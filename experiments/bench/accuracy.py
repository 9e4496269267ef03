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
import multiprocessing as mp  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from queue import Empty  # noqa: E402

import polars as pl  # noqa: E402

from features import CitybrainError, ConfigError, DataError, ModelSpec, TaskConfig  # noqa: E402
from models import (  # noqa: E402
    FAMILIES,
    family_class,
    quantile_column,
)
from training import run_backtest  # noqa: E402

# the sibling modules, found after the ``features`` package (appended, so it cannot shadow it)
sys.path.append(str(_HERE))
from accuracy_data import DATASETS, KEYS, Dataset, bench_task, ingest, load_tables  # noqa: E402
from accuracy_metrics import common_rows, score  # noqa: E402
from accuracy_peers import backtest_plan, run_mlforecast, run_statsforecast  # noqa: E402
from accuracy_report import (  # noqa: E402
    LEVEL,
    MAPPING,
    Outcome,
    family_table,
    machine,
    section,
    summary_table,
)
from accuracy_selection import ENSEMBLE, SELECTED, honest_ours  # noqa: E402

ROOT = _HERE.parents[1]
DATA = ROOT.parent / "shared" / "data"
RESULTS = _HERE / "results" / "accuracy.md"
# Families added to the config's model and candidates by ``--families all``, at their defaults:
# every registered family but the baselines. Not the default: the graph family alone takes about
# 3 minutes per METR-LA fold here, and it needs a road graph the other datasets lack.
BASELINE_FAMILIES = ("seasonal_naive", "historical_average")
CANDIDATE_FAMILIES = tuple(f for f in FAMILIES if f not in BASELINE_FAMILIES)
# Families that take a number of worker processes: the bench gives them its thread budget (by
# default they take every core, and their process pools inside our spawned processes hung).
WORKER_PARAMS = {"ets": "n_jobs", "sarimax": "n_jobs"}
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "POLARS_MAX_THREADS",
    "NUMBA_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
)


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


# ---------------------------------------------------------------- one dataset


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
    outcome.fold_scores = honest.scores
    # what the product pays to choose: every member's backtest
    spent = sum(outcome.seconds.get(m, 0.0) for m in outcome.members)
    outcome.seconds[SELECTED] = outcome.seconds[ENSEMBLE] = spent
    return pl.concat([preds, honest.rows.select(preds.columns)], how="vertical_relaxed")


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
            print(f"\n{section(outcome)}\n", flush=True)
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
    body = "\n\n".join(section(o) for o in outcomes)
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
        " (masked for METR-LA), on the rows every model forecast. Ours is `ours: selected`,"
        " chosen walk-forward (each fold's pick from the folds before it); the best peer is"
        " chosen in hindsight on the same windows, so the comparison is, if anything, generous"
        " to the peers.\n\n"
        f"{summary}\n\n{MAPPING}\n\n## Per dataset\n\n"
        "Bold: the best value of the row (coverage: closest to "
        f"{LEVEL} %). Seconds: wall time of the whole backtest (each of ours: features, fit and "
        "forecast for every fold, the config's model with the baseline; ours: selected and "
        "ours: ensemble: every member's together; peers: their cross-validation per model)."
        "\n\n"
        f"{body}\n"
    )
    print(f"recorded in {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
