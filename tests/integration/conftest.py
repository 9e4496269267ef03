"""Shared set-up for integration tests: every domain trained on the small storm of ``trained``
(tests/conftest.py); a throwaway PostgreSQL database."""

from __future__ import annotations

import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from serving import ROLES, KeyStore, Settings, create_app, main

# small versions of the shipped rivers and hotline tasks, with their warning rules as shipped
SMALL_RIVERS = """
name: e2e_rivers
domain: rivers
target: {signal: water_level_m}
frequency: 10m
horizons: [1h, 3h, 6h]
features:
  target_lags: [10m, 1h, 3h]
  target_maxes: [6h]
  target_changes: [1h, 3h]
  season_ref: 10m
  observed:
    - {name: upstream, signal: water_level_m, link: "members:upstream", level: true}
    - {name: rain_gauge, signal: rain_mm, link: rain_gauge, sums: [1h, 6h, 24h]}
  known_ahead:
    - {name: fcst_rain, variable: rain_mm, aggregate: sum}
model:
  family: lightgbm
  params: {n_estimators: 40, learning_rate: 0.1, min_child_samples: 20}
baseline: {family: seasonal_naive}
train: {origin_stride: 2h}
backtest: {folds: 2, fold_length: 2d, origin_stride: 2h, min_train: 4d}
warning:
  probability: 0.4
  clear_margin: 0.15
  min_event: 30m
  levels:
    - {level: blue, attr: warning_level_m, offset: -0.3}
    - {level: yellow, attr: warning_level_m}
    - {level: orange, attr: warning_level_m, offset: 0.4}
    - {level: red, attr: guarantee_level_m}
"""

SMALL_HOTLINE = """
name: e2e_hotline
domain: hotline
target:
  signal: hotline_count
  events: {source: hotline, by_category: true}
frequency: 1h
horizons: [1h, 2h, 3h]
features:
  target_lags: [1h, 2h, 24h]
  target_stats: [{stat: mean, window: 24h}]
  season_ref: 1d
  calendar: [hour, weekday]
model:
  family: lightgbm
  params: {n_estimators: 40, learning_rate: 0.1, min_child_samples: 20}
baseline: {family: seasonal_naive}
train: {origin_stride: 2h}
backtest: {folds: 2, fold_length: 2d, origin_stride: 2h, min_train: 4d}
warning:
  kind: surge
  probability: 0.5
  min_event: 2h
  surge: {weeks: 1, min_norm: 4}
  levels:
    - {level: blue, factor: 2}
    - {level: yellow, factor: 3}
    - {level: orange, factor: 4}
    - {level: red, factor: 6}
"""

SMALL_TRAFFIC = """
name: e2e_traffic
domain: traffic
target: {signal: speed_kmh}
frequency: 5m
horizons: [15m, 30m]
features:
  target_lags: [5m, 15m, 30m]
  target_changes: [15m]
  season_ref: 5m
  observed:
    - {name: ponding, signal: ponding_cm, link: ponding_sensor, level: true, maxes: [1h]}
    - {name: rain_area, signal: rain_mm, link: area, sums: [30m, 1h]}
model:
  family: lightgbm
  params: {n_estimators: 30, learning_rate: 0.2, min_child_samples: 20}
baseline: {family: seasonal_naive}
train: {origin_stride: 2h}
backtest: {folds: 2, fold_length: 2d, origin_stride: 2h, min_train: 4d}
warning:
  kind: congestion
  direction: below
  probability: 0.5
  clear_margin: 0.15
  levels:
    - {level: blue, share: 0.4}
    - {level: yellow, share: 0.3}
    - {level: orange, share: 0.2}
    - {level: red, share: 0.1}
"""


@pytest.fixture(scope="session")
def trained_domains(trained: dict) -> dict:
    """The ``trained`` city with small rivers, hotline and traffic tasks trained beside its
    waterlogging one (same data, same MLflow), so a server can warn in every domain."""
    env = {"CITYBRAIN_HOME": str(trained["home"])}
    tasks = []
    for text in (SMALL_RIVERS, SMALL_HOTLINE, SMALL_TRAFFIC):
        name = text.split("name: ", 1)[1].split("\n", 1)[0]
        path = trained["root"] / f"{name}.yaml"
        path.write_text(text)
        args = ["train", "--data", str(trained["data"]), "--task", str(path)]
        result = CliRunner().invoke(main, args, env=env)
        assert result.exit_code == 0, result.output
        # every warning task is judged against the rate-of-rise rule, ahead of the water
        assert "Warned before the water" in result.output, result.output
        assert " rule " in result.output
        assert "Reliability where warnings live" in result.output
        tasks.append(path)
    return trained | {"rivers": tasks[0], "hotline": tasks[1], "traffic": tasks[2]}


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


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The warning ledger a served test keeps: an embedded SQLite file, or a throwaway database
    on the real PostgreSQL (``database``): every warning test over HTTP runs on both."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'warnings.db'}"
    return str(request.getfixturevalue("database"))


@pytest.fixture
def serve_trained(trained: dict, tmp_path: Path):
    """Build the app (in process) over a private copy of the trained city's data, sharing the
    trained champion's MLflow home: ``serve_trained(role, **settings)`` gives a TestClient
    calling with a key of ``role`` and the tokens of a key per role (names ``<role> desk``).
    Calls within one test share the data copy and the ledger."""

    def build(role: str = "ingest", **overrides: object) -> tuple[TestClient, dict[str, str]]:
        data = tmp_path / "data"
        if not data.exists():
            shutil.copytree(trained["data"], data)
        settings = Settings(
            home=trained["home"],
            data=data,
            tasks=str(trained["task"]),
            ledger_url=f"sqlite:///{tmp_path / 'warnings.db'}",
            **overrides,
        )
        keys = KeyStore(settings.keys)
        tokens = {r: keys.create(f"{r} desk", [r])[1] for r in ROLES}
        keys.dispose()
        return TestClient(create_app(settings), headers={"X-API-Key": tokens[role]}), tokens

    return build
