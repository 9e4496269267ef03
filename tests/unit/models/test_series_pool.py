"""The per-series worker pool inside a worker process: the demo trains tasks in spawned
processes, and one that fitted statistical models must still exit when its pool shuts down."""

from __future__ import annotations

import threading
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from models import close_pools
from models.series_pool import map_jobs


def _fit_in_a_pool_then_close() -> list[float]:
    out = map_jobs(abs, [(-float(i),) for i in range(8)], 2)
    close_pools()
    return out


def test_a_worker_that_used_the_series_pool_exits_once_it_closes_the_pool() -> None:
    pool = ProcessPoolExecutor(1, mp_context=get_context("spawn"))
    assert pool.submit(_fit_in_a_pool_then_close).result(timeout=120) == [
        float(i) for i in range(8)
    ]
    # without close_pools the worker's exit waits forever on its own pool (it runs no atexit)
    done = threading.Thread(target=pool.shutdown, kwargs={"wait": True}, daemon=True)
    done.start()
    done.join(timeout=60)
    assert not done.is_alive(), "the worker did not exit"
