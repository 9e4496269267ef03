"""How many threads the product's own work may use: one budget, ``CITYBRAIN_THREADS``.

Every parallel part reads it: LightGBM's OpenMP threads (a family's ``n_jobs: 0``), the
statistical families' process pool (their default ``n_jobs``), PyTorch (half of it, at most
4) and the feature pipeline's thread pools. By default it is the cores this process may run
on; on a machine other work keeps busy, set it to the cores that are free: OpenMP threads
spin-wait, and two of them on two cores another job used ran LightGBM about five times slower
than one. A training process pool (the demo's) gives each worker one thread.
"""

from __future__ import annotations

import os
from functools import cache

from features.errors import ConfigError

ENV = "CITYBRAIN_THREADS"


@cache
def available_cores() -> int:
    """The cores this process may run on (its affinity, read once: the feature pools ask on
    every binning)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def thread_budget() -> int:
    """``CITYBRAIN_THREADS``, else the cores this process may run on.

    Raises:
        ConfigError: a value that is not a whole number of at least 1.
    """
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return available_cores()
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if n < 1:
        raise ConfigError(
            f"{ENV}={raw!r} is not a number of threads: give a whole number of at least 1 "
            f"(this process may run on {available_cores()} cores)",
            key=ENV,
        )
    return n


def busy_machine_hint() -> str | None:
    """What to set when other work already keeps cores busy and the budget would use them all
    (said before long work starts; None on a quiet machine or with ``CITYBRAIN_THREADS`` set)."""
    if os.environ.get(ENV, "").strip():
        return None
    cores, load = available_cores(), os.getloadavg()[0]
    free = max(1, round(cores - load))
    if cores == 1 or free >= cores:
        return None
    return (
        f"the machine is busy (load {load:.1f} on {cores} cores): OpenMP threads on cores "
        "other work holds wait for each other (experiments/bench/threads.py measures it); "
        f"{ENV}={free} may train faster"
    )
