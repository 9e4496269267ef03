"""``citybrain demo``, the main job, end to end: simulate, train every shipped task, serve,
replay a typhoon live, and count the warnings per domain (slow: it trains four tasks)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from features import shipped_tasks_dir

TASKS = sorted(p.stem for p in shipped_tasks_dir().glob("*.yaml"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_the_demo_trains_and_serves_every_shipped_task_and_warns_in_its_domains(
    tmp_path: Path,
) -> None:
    env = os.environ | {"CITYBRAIN_HOME": str(tmp_path / "home")}
    run = subprocess.run(
        [sys.executable, "-m", "serving", "demo", "--days", "100", "--replay-hours", "24",
         "--replay-interval", "0", "--exit-after-replay", "--port", str(_free_port()),
         "--mlflow-port", str(_free_port())],
        env=env, capture_output=True, text=True, timeout=3600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stderr
    for name in TASKS:
        assert f"registered citybrain-{name}" in out or f"citybrain-{name} v1 is champion" in out
    summary = out[out.index("warnings of the replay, per domain") :].splitlines()[2:6]
    rows = {line.split()[0]: [int(x) for x in line.split()[1:]] for line in summary}
    assert set(rows) == {"waterlogging", "rivers", "hotline", "traffic"}
    # the replayed typhoon warns in every domain it floods, blocks or sets ringing
    for domain in ("waterlogging", "rivers", "traffic"):
        assert sum(rows[domain][:4]) > 0, (domain, rows)
    assert "replay done:" in out
