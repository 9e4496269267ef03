"""Training against a real MLflow tracking server on PostgreSQL (the production set-up).

A fresh, uniquely named database is created on the PostgreSQL server at 127.0.0.1:5432 (the
shared ``test`` database is only used to connect) and dropped afterwards; ``mlflow server``
runs as a real process on it, serving artifacts from a temporary folder. ``citybrain train``
talks to it through ``CITYBRAIN_MLFLOW_URI`` only; the version, its alias, its tags and
artifacts, the champion's config and the model itself are then read back through the server.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import polars as pl
import pytest
from click.testing import CliRunner

from features import Store
from serving import main

pytestmark = pytest.mark.postgres

NAME = "citybrain-server_tiny"
TASK = """
name: server_tiny
domain: waterlogging
target: {signal: ponding_cm}
frequency: 10m
horizons: [30m, 1h]
features:
  target_lags: [10m, 30m]
  target_maxes: [1h]
  target_changes: []
  season_ref: 10m
  calendar: [hour]
model:
  family: lightgbm
  params: {n_estimators: 10, learning_rate: 0.1, min_child_samples: 5, num_leaves: 7}
baseline: {family: seasonal_naive}
train: {origin_stride: 1h}
backtest: {folds: 3, fold_length: 6h, origin_stride: 1h, min_train: 1d}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mlflow_server(database: str, tmp_path: Path) -> Iterator[str]:
    """``mlflow server`` on the fresh database; its URL once it answers /health."""
    port = _free_port()
    log = (tmp_path / "mlflow-server.log").open("w")
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "mlflow"),
            "server",
            "--backend-store-uri",
            database,
            "--artifacts-destination",
            str(tmp_path / "server-artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its workers share its process group, stopped with it
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if server.poll() is not None:
                pytest.fail(f"mlflow server exited: {(tmp_path / 'mlflow-server.log').read_text()}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("mlflow server did not answer /health within 180 s")
            time.sleep(0.5)
        yield url
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        log.close()


def test_training_through_a_tracking_server_on_postgres_registers_a_champion(
    mlflow_server: str, tmp_path: Path, noisy_tiny_city
):
    import mlflow

    from training import TrackingSettings, champion_config, load_champion

    data, task = tmp_path / "data", tmp_path / "server_tiny.yaml"
    task.write_text(TASK)
    tables = noisy_tiny_city
    store = Store(data)
    for table in ("series", "observations", "events", "weather_forecasts", "areas"):
        store.write(table, getattr(tables, table))
    env = {"CITYBRAIN_MLFLOW_URI": mlflow_server, "CITYBRAIN_HOME": str(tmp_path / "home")}
    runner = CliRunner()
    result = runner.invoke(main, ["train", "--data", str(data), "--task", str(task)], env=env)
    assert result.exit_code == 0, result.output
    assert f"registered {NAME} v1 as champion: first model" in result.output
    assert not (tmp_path / "home" / "mlflow.db").exists()  # nothing tracked locally

    client = mlflow.MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)
    champion = client.get_model_version_by_alias(NAME, "champion")
    assert str(champion.version) == "1"
    assert champion.tags["promotion"] == "champion"
    assert champion.tags["promoted_by"] == "citybrain train"
    assert "first model" in champion.tags["promotion_reason"]
    run = client.get_run(champion.run_id)
    assert run.info.artifact_uri.startswith("mlflow-artifacts:")  # served by the server
    scores = pl.read_parquet(
        client.download_artifacts(
            champion.run_id, "backtest/paired_scores.parquet", str(tmp_path / "dl")
        )
    )
    assert scores.columns == ["fold", "series_id", "score"] and scores.height == 6
    champ_task, selected = champion_config(client, champion)  # what promotion re-backtests
    assert champ_task.name == "server_tiny" and selected == "lightgbm"

    loaded = load_champion(TrackingSettings(mlflow_uri=mlflow_server), "server_tiny")
    model, version = loaded.model, loaded.version
    assert version == "1" and model.task.name == "server_tiny"

    table = runner.invoke(main, ["models", "--task", str(task)], env=env)
    assert table.exit_code == 0, table.output
    assert f"{NAME} at {mlflow_server}: 1 version\n" in table.output
