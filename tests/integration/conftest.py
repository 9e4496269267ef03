"""Shared set-up for integration tests: a small simulated storm and a champion trained on it;
a throwaway PostgreSQL database."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from click.testing import CliRunner

from features import Store
from serving import main

START = datetime(2025, 7, 1, tzinfo=UTC)
DAYS = 14
LANDFALL = START + timedelta(days=DAYS) - timedelta(hours=8)
CUTOFF = START + timedelta(days=DAYS) - timedelta(hours=16)

SMALL_TASK = """
name: e2e_waterlogging
domain: waterlogging
target: {signal: ponding_cm}
frequency: 10m
horizons: [1h, 2h, 3h]
features:
  target_lags: [10m, 30m, 1h]
  target_maxes: [6h]
  target_changes: [30m]
  season_ref: 10m
  observed:
    - {name: rain_gauge, signal: rain_mm, link: rain_gauge, sums: [30m, 1h, 3h, 6h]}
    - {name: river, signal: water_level_m, link: river_gauge, level: true,
       relative_to_attr: warning_level_m}
  known_ahead:
    - {name: fcst_rain, variable: rain_mm}
  rainstorm_signal: true
model:
  family: lightgbm
  params: {n_estimators: 40, learning_rate: 0.1, min_child_samples: 20}
baseline: {family: seasonal_naive}
train: {origin_stride: 1h, quiet_fraction: 0.2}
backtest: {folds: 2, fold_length: 2d, min_train: 4d}
warning:
  probability: 0.4
  event_threshold: 5
  levels:
    - {level: blue, threshold: 5}
    - {level: yellow, threshold: 10}
    - {level: orange, threshold: 15}
    - {level: red, threshold: 20}
"""


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A simulated city without its storm's last hours, and a champion trained on it."""
    root = tmp_path_factory.mktemp("e2e")
    data, home = root / "data", root / "home"
    env = {"CITYBRAIN_HOME": str(home)}
    task = root / "e2e_waterlogging.yaml"
    task.write_text(SMALL_TASK)
    runner = CliRunner()
    sim = runner.invoke(
        main,
        [
            "simulate",
            "--out",
            str(data),
            "--days",
            str(DAYS),
            "--seed",
            "3",
            "--start",
            START.date().isoformat(),
            "--typhoon",
            LANDFALL.isoformat(),
        ],
        env=env,
    )
    assert sim.exit_code == 0, sim.output
    store = Store(data)
    obs = store.read("observations")
    held = obs.filter(pl.col("ts") > CUTOFF)
    store.write("observations", obs.filter(pl.col("ts") <= CUTOFF))
    result = runner.invoke(main, ["train", "--data", str(data), "--task", str(task)], env=env)
    assert result.exit_code == 0, result.output
    assert "champion" in result.output
    return {"root": root, "data": data, "home": home, "task": task, "held": held}


PG_HOST, PG_PORT = "127.0.0.1", 5432
ADMIN_DSN = f"postgresql://postgres@{PG_HOST}:{PG_PORT}/test"


@pytest.fixture
def database() -> Iterator[str]:
    """A new database for this test only (SQLAlchemy URI), dropped afterwards."""
    try:
        socket.create_connection((PG_HOST, PG_PORT), timeout=2).close()
    except OSError:
        pytest.skip(f"PostgreSQL is not reachable on {PG_HOST}:{PG_PORT}")
    import psycopg
    from psycopg import sql

    name = f"citybrain_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True, connect_timeout=5) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
