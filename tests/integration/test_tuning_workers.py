"""Tuning workers: two processes sharing one PostgreSQL study run exactly its trials together."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

pytestmark = pytest.mark.postgres

URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TESTS = Path(__file__).resolve().parents[1]
TOTAL = 8

# a worker builds the tiny city's backtest data, says it is ready, waits for the go, and tunes
WORKER = """
import importlib.util, json, sys, time
from pathlib import Path

tests, url, name, total, ready, go = sys.argv[1:7]
here = Path(tests) / "unit" / "training"
sys.path.insert(0, str(here))  # the tuning tests' shared tiny task
path = here / "test_training_tuning.py"
spec = importlib.util.spec_from_file_location("tuning_tests", path)
tuning_tests = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tuning_tests)
from training.tuning import tune

data = tuning_tests.tiny_data()
Path(ready).touch()
while not Path(go).exists():
    time.sleep(0.05)
out = tune(
    data, tuning_tests.tiny_task(), n_trials=int(total), storage=url, study_name=name,
    worker=True, progress=False,
)
print(json.dumps({"ran": out.n_ran, "finished": out.n_complete + out.n_pruned}))
"""


@pytest.fixture
def study_name() -> Iterator[str]:
    """A study name of this run only, on a reachable server; the study is dropped after."""
    try:
        import sqlalchemy

        engine = sqlalchemy.create_engine(URL, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
    except Exception as err:
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 is unreachable: {str(err).splitlines()[0]}")
    name = f"citybrain-test-{uuid.uuid4().hex[:12]}"
    yield name
    if name in optuna.get_all_study_names(URL):
        optuna.delete_study(study_name=name, storage=URL)


def test_two_workers_together_run_exactly_the_studys_trials(
    tmp_path: Path, study_name: str
) -> None:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    go = tmp_path / "go"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CITYBRAIN_HOME": str(tmp_path / "home")}
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                str(script),
                str(TESTS),
                URL,
                study_name,
                str(TOTAL),
                str(ready),
                str(go),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=TESTS.parent,
        )
        for ready in (tmp_path / "ready-0", tmp_path / "ready-1")
    ]
    deadline = time.monotonic() + 120
    while not all((tmp_path / f"ready-{i}").exists() for i in range(2)):
        assert all(w.poll() is None for w in workers), [w.communicate() for w in workers]
        assert time.monotonic() < deadline, "the workers did not get ready in time"
        time.sleep(0.05)
    go.touch()
    outputs = [w.communicate(timeout=180) for w in workers]
    for w, (_, err) in zip(workers, outputs, strict=True):
        assert w.returncode == 0, err
    reports = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    study = optuna.load_study(study_name=study_name, storage=URL)
    states = [t.state for t in study.trials]
    finished = [
        s for s in states if s in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    ]
    assert len(finished) == TOTAL == len(states)
    assert sum(r["ran"] for r in reports) == TOTAL
    assert all(r["ran"] > 0 for r in reports)
    assert max(r["finished"] for r in reports) == TOTAL  # the last to stop sees them all


OPENER = """
import sys, time
from pathlib import Path
from training.tuning_storage import open_storage

url, go = sys.argv[1:3]
while not Path(go).exists():
    time.sleep(0.01)
open_storage(url, heartbeat=True)
"""


def test_workers_starting_together_on_a_new_database_all_open_the_storage(
    database: str, tmp_path: Path
) -> None:
    # each opener creates Optuna's tables if they are missing; unserialised, concurrent
    # CREATE TABLEs on PostgreSQL collide ("duplicate key ... pg_type_typname_nsp_index")
    go = tmp_path / "go"
    openers = [
        subprocess.Popen(
            [sys.executable, "-c", OPENER, database, str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    time.sleep(3.0)  # imports done: all wait on the go
    go.touch()
    errors = [p.communicate(timeout=120)[1] for p in openers]
    assert [p.returncode for p in openers] == [0] * 6, "\n".join(e for e in errors if e)
    storage = optuna.storages.RDBStorage(database)
    assert storage.get_all_studies() == []
