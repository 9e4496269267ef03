"""A process pool for per-series work (the ``ets`` and ``sarimax`` fits and forecasts).

Fits (and predicts of more than ten million window steps) run in a process pool of ``n_jobs``
workers (default: the thread budget, ``CITYBRAIN_THREADS``); with ``n_jobs: 1``, or fewer than 4
series, they run in-process. Threads do not help: a fit is mostly Python-level optimiser work
under the GIL (measured: no gain with two threads). The pool is kept for the life of the
process and forks from a server that has imported the workers' module once; like any process
pool, a script that fits these models must guard its entry point with
``if __name__ == "__main__":``. BLAS is held to one thread around the per-series work: its
threads on tiny matrices made a likelihood ten times slower on busy cores.

It knows nothing of the models: it maps a picklable function over jobs, so it sits below
them in the import order.
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from typing import Any

from threadpoolctl import threadpool_limits

POOL_MIN_SERIES = 4
_STATSMODELS = ("statsmodels.tsa.statespace.sarimax", "statsmodels.tsa.exponential_smoothing.ets")
_POOLS: dict[int, Executor] = {}


def _pool(n_jobs: int, workers: str) -> Executor:
    """The pool of ``n_jobs`` processes, started on first use; ``workers`` names the module
    of the functions it will run, preloaded by the fork server with statsmodels."""
    pool = _POOLS.get(n_jobs)
    if pool is None:
        # forkserver (spawn elsewhere): forking a process that runs Polars' thread pool can
        # deadlock; the pool is kept for the process's life, so its start-up is paid once
        method = (
            "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        )
        context = multiprocessing.get_context(method)
        if method == "forkserver":
            # the workers fork from a server that imported this module, the workers' module
            # (and so the models they fit) and statsmodels once
            context.set_forkserver_preload([__name__, workers, *_STATSMODELS])
        pool = ProcessPoolExecutor(n_jobs, mp_context=context)
        _POOLS[n_jobs] = pool
    return pool


@atexit.register
def _close_pools() -> None:
    for pool in _POOLS.values():
        pool.shutdown(wait=False, cancel_futures=True)
    _POOLS.clear()


def close_pools() -> None:
    """Stop the per-series worker pools and wait for them. A multiprocessing worker that fitted
    statistical models must call this before it returns: such a process exits without running
    ``atexit`` hooks, and its exit then waits forever on the pool it never stopped."""
    for pool in _POOLS.values():
        pool.shutdown(wait=True, cancel_futures=True)
    _POOLS.clear()


def _one_blas_thread() -> contextlib.AbstractContextManager[Any]:
    """BLAS on one thread: the matrices here are tiny, and OpenBLAS threads fighting over
    busy cores made a statsmodels likelihood ten times slower (measured)."""
    return threadpool_limits(limits=1, user_api="blas")


def _limited(fn: Callable[..., Any], *args: Any) -> Any:
    with _one_blas_thread():
        return fn(*args)


def map_jobs(fn: Callable[..., Any], jobs: Sequence[tuple], n_jobs: int) -> list[Any]:
    """``fn(*job)`` for each job, in order; in a process pool when it pays."""
    if n_jobs <= 1 or len(jobs) < POOL_MIN_SERIES:
        with _one_blas_thread():
            return [fn(*job) for job in jobs]
    try:
        futures = [_pool(n_jobs, fn.__module__).submit(_limited, fn, *job) for job in jobs]
        return [f.result() for f in futures]
    except Exception as err:  # a broken pool is replaced on the next call
        from concurrent.futures.process import BrokenProcessPool

        if isinstance(err, BrokenProcessPool):
            _POOLS.pop(n_jobs, None)
        raise
