"""Threads on a busy machine: LightGBM's OpenMP threads with and without other work on the cores.

Fits the same quantile LightGBM (synthetic rows, fixed seed) with 1 thread and with one per
core, first on a quiet machine, then with one busy process per core but one (another job on
the same machine). The ratios are what ``CITYBRAIN_THREADS`` is for: spinning OpenMP threads
on cores another job holds wait for each other; the README says when to set it.

    .venv/bin/python experiments/bench/threads.py [--no-record]   # about a minute on 2 cores
"""

from __future__ import annotations

import multiprocessing as mp
import os
import statistics
import sys
import time
from pathlib import Path

import lightgbm as lgb
import numpy as np

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.append(str(_HERE))
from machine_info import machine  # noqa: E402
from served_home import record  # noqa: E402

ROWS, COLUMNS, TREES, REPEATS = 200_000, 30, 40, 3
RESULTS = _HERE / "results" / "threads.md"


def _spin(stop: float) -> None:
    """Keep one core busy until ``stop`` (another job's work)."""
    x = 0
    while time.time() < stop:
        x += 1


def _fit_seconds(data: lgb.Dataset, threads: int) -> float:
    params = {
        "objective": "quantile",
        "alpha": 0.9,
        "num_leaves": 63,
        "verbosity": -1,
        "num_threads": threads,
        "seed": 7,
        "deterministic": True,
        "force_row_wise": True,
    }
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        lgb.train(params, data, num_boost_round=TREES)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    cores = len(os.sched_getaffinity(0))
    rng = np.random.default_rng(7)
    x = rng.normal(size=(ROWS, COLUMNS))
    y = x[:, 0] * 2 + np.sin(x[:, 1]) + rng.normal(scale=0.5, size=ROWS)
    data = lgb.Dataset(x, y, free_raw_data=False).construct()
    load = os.getloadavg()[0]
    rows = []
    for busy in (0, max(1, cores - 1)):
        hogs = [mp.Process(target=_spin, args=(time.time() + 600,)) for _ in range(busy)]
        for h in hogs:
            h.start()
        try:
            one = _fit_seconds(data, 1)
            every = _fit_seconds(data, cores)
        finally:
            for h in hogs:
                h.terminate()
                h.join()
        rows.append((busy, one, every))
        said = f"  {busy} busy: 1 thread {one:.2f} s, {cores} threads {every:.2f} s"
        print(said, file=sys.stderr)
    lines = [
        f"# Threads on a busy machine ({time.strftime('%Y-%m-%d')})",
        "",
        f"Machine: {machine()}; load average {load:.2f} at the start. LightGBM quantile fit, "
        f"{ROWS:,} rows x {COLUMNS} columns, {TREES} trees of 63 leaves, median of {REPEATS}.",
        "",
        f"| other jobs' busy cores | 1 thread | {cores} threads | {cores} threads : 1 thread |",
        "|---:|---:|---:|---:|",
        *(f"| {b} | {one:.2f} s | {every:.2f} s | {every / one:.2f} |" for b, one, every in rows),
    ]
    record("\n".join(lines) + "\n", RESULTS, keep="--no-record" not in sys.argv)


if __name__ == "__main__":
    main()
