"""The per-series worker pool inside a worker process: the demo trains tasks in spawned
processes, and one that fitted statistical models must still exit when its pool shuts down."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

# run as a script of its own, so the spawned worker imports the product, not the test session
SCRIPT = """
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from models import close_pools
from models.series_pool import map_jobs


def work(close):
    out = map_jobs(abs, [(-float(i),) for i in range(8)], 2)
    if close:
        close_pools()
    return out


if __name__ == "__main__":
    import sys

    pool = ProcessPoolExecutor(1, mp_context=get_context("spawn"))
    assert pool.submit(work, sys.argv[1] == "close").result(timeout=120) == [
        float(i) for i in range(8)
    ]
    done = threading.Thread(target=pool.shutdown, kwargs={"wait": True}, daemon=True)
    done.start()
    done.join(timeout=30)
    print("exited" if not done.is_alive() else "stuck", flush=True)
    os._exit(0)
"""


def _run(tmp_path: Path, mode: str) -> str:
    script = tmp_path / "pool_in_a_worker.py"
    script.write_text(SCRIPT)
    run = subprocess.run(
        [sys.executable, str(script), mode],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout.strip()


def test_a_worker_that_used_the_series_pool_exits_once_it_closes_the_pool(tmp_path: Path) -> None:
    assert _run(tmp_path, "close") == "exited"
