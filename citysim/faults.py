"""Sensor faults, so that cleaning and quality checks have something real to find.

Faults are applied to a signal's (steps x series) matrix before it becomes rows: gaps (missing
rows, some lasting hours), stuck values (a sensor repeating its last reading), spikes (isolated
implausible jumps that still lie inside the signal's physical range, so a range check alone
misses them), and late arrivals (``received_at`` after ``ts``, single rows and whole backfilled
blocks). Missing values are NaN in the matrix; late offsets are microseconds, -1 meaning on time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features import SIGNALS

MINUTE_US = 60_000_000


@dataclass
class Faulty:
    values: np.ndarray  # NaN where missing
    late_us: np.ndarray  # int64 delay of received_at after ts; -1 where on time


def _spike(signal: str, value: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An implausible but in-range reading for a signal."""
    spec = SIGNALS[signal]
    lo, hi = spec.low, spec.high
    if signal in ("water_level_m", "tide_level_m"):
        jumped = value + rng.uniform(2.5, 5.0, value.shape)
    elif signal == "gate_opening":
        jumped = np.where(value > 0.5, 0.0, 1.0)
    else:
        jumped = lo + rng.uniform(0.6, 0.95, value.shape) * (hi - lo)
    return np.clip(jumped, lo, hi)


def _runs(rng: np.random.Generator, steps: int, count: int, mean_len: float) -> list[slice]:
    out = []
    for _ in range(count):
        length = max(1, int(rng.exponential(mean_len)))
        start = int(rng.integers(0, max(steps - 1, 1)))
        out.append(slice(start, min(start + length, steps)))
    return out


def apply_faults(
    values: np.ndarray, signal: str, step_min: int, rng: np.random.Generator
) -> Faulty:
    """Return the matrix as the platform would have received it."""
    values = values.astype(np.float64).copy()
    steps, n = values.shape
    days = steps * step_min / 1440
    per_hour = 60 / step_min
    late = np.full(values.shape, -1, np.int64)
    for j in range(n):
        col = values[:, j]
        for run in _runs(rng, steps, rng.poisson(days / 60), 4 * per_hour):
            col[run] = col[run.start]  # stuck at the reading that started the run
        spikes = rng.random(steps) < 1e-4
        col[spikes] = _spike(signal, col[spikes], rng)
        for run in _runs(rng, steps, rng.poisson(days / 30), 1.5 * per_hour):
            col[run] = np.nan  # outage of the sensor or its link
        col[rng.random(steps) < 0.002] = np.nan
        lag = late[:, j]
        single = rng.random(steps) < 0.004
        lag[single] = rng.integers(30, 360, int(np.count_nonzero(single))) * MINUTE_US
        for run in _runs(rng, steps, rng.poisson(days / 45), 2 * per_hour):
            # a backfilled block: everything arrives together after the link comes back
            arrive = (run.stop - np.arange(run.start, run.stop)) * step_min
            lag[run] = (arrive + int(rng.integers(30, 180))) * MINUTE_US
    return Faulty(values, late)
