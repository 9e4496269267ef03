"""Shared test set-up: every test runs with its own citybrain home so that runs never mix; a
small simulated storm and a champion trained on it (``trained``) for the tests that serve one
(integration and browser); the live server those run is in ``live_server.py`` beside this file.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "citybrain-home"
    monkeypatch.setenv("CITYBRAIN_HOME", str(home))
    return home


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
    """A simulated city without its storm's last hours, and a champion trained on it (shared
    by the integration and browser tests: one training a session)."""
    import polars as pl
    from click.testing import CliRunner

    from features import Store
    from serving import main

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


@pytest.fixture
def shared_data() -> Path:
    """The real public datasets beside the project; tests using them are marked ``realdata``."""
    if not SHARED_DATA.exists():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (it lives beside the project)")
    return SHARED_DATA


def make_tiny_city(days: int = 3, seed: int = 0):
    """A hand-sized city for unit tests: 2 ponding sensors, 2 rain gauges, a river and the tide.

    Rain falls in one burst on the second day; ponding follows rain above a drainage rate.
    """
    import json
    from datetime import datetime, timedelta

    import numpy as np
    import polars as pl

    from features import CityTables, conform

    rng = np.random.default_rng(seed)
    start = datetime(2025, 6, 1, tzinfo=UTC)
    n = days * 144
    ts = [start + timedelta(minutes=10 * i) for i in range(n)]
    series = pl.DataFrame(
        {
            "series_id": ["pond-1", "pond-2", "rain-1", "rain-2", "river-1", "tide-minjiang"],
            "signal": [
                "ponding_cm",
                "ponding_cm",
                "rain_mm",
                "rain_mm",
                "water_level_m",
                "tide_level_m",
            ],
            "unit": ["cm", "cm", "mm", "mm", "m", "m"],
            "area_id": ["gulou", "taijiang", "gulou", "taijiang", "gulou", "gulou"],
            "lat": [26.08, 26.06, 26.08, 26.06, 26.07, 26.0],
            "lon": [119.29, 119.31, 119.29, 119.31, 119.30, 119.4],
            "attrs": [
                json.dumps({"rain_gauge": "rain-1", "river_gauge": "river-1"}),
                json.dumps({"rain_gauge": "rain-2", "river_gauge": "river-1"}),
                "{}",
                "{}",
                json.dumps({"warning_level_m": 6.5}),
                "{}",
            ],
        }
    )
    burst = np.zeros(n)
    b0 = 144 + 60
    burst[b0 : b0 + 18] = rng.gamma(2.0, 4.0, 18)
    rain = {
        "rain-1": burst,
        "rain-2": burst * 0.7 + rng.gamma(0.2, 0.5, n) * (rng.random(n) < 0.05),
    }
    t_h = np.arange(n) / 6.0
    tide = 1.5 * np.sin(2 * np.pi * t_h / 12.42)
    river = 5.0 + np.convolve(burst, np.ones(36) / 30, mode="full")[:n] + 0.2 * tide
    frames = []
    for sid, r in rain.items():
        frames.append(pl.DataFrame({"series_id": sid, "ts": ts, "value": r}))
    for sid, r, cap in (("pond-1", rain["rain-1"], 3.0), ("pond-2", rain["rain-2"], 5.0)):
        depth = np.zeros(n)
        for i in range(1, n):
            depth[i] = max(0.0, depth[i - 1] + 2.0 * (r[i] - cap) - 0.5)
        frames.append(pl.DataFrame({"series_id": sid, "ts": ts, "value": depth}))
    frames.append(pl.DataFrame({"series_id": "river-1", "ts": ts, "value": river}))
    frames.append(pl.DataFrame({"series_id": "tide-minjiang", "ts": ts, "value": tide}))
    obs = pl.concat(frames).with_columns(pl.lit(None).alias("received_at"))
    issues = [start + timedelta(hours=6 * k) for k in range(days * 4)]
    fc_rows = []
    for issued in issues:
        for hh in range(1, 73):
            valid = issued + timedelta(hours=hh)
            i = int((valid - start).total_seconds() // 600)
            if i >= n:
                break
            true_h = float(burst[max(0, i - 5) : i + 1].sum())
            for area in ("gulou", "taijiang"):
                fc_rows.append((issued, valid, area, "rain_mm", true_h * (1 + 0.02 * hh)))
            fc_rows.append((issued, valid, "fuzhou", "tide_level_m", float(tide[min(i, n - 1)])))
    forecasts = pl.DataFrame(
        fc_rows, schema=["issued_at", "valid_at", "area_id", "variable", "value"], orient="row"
    )
    events = pl.DataFrame(
        {
            "event_id": ["sig-1", "sig-2"],
            "ts": [ts[b0 - 12], ts[b0 + 40]],
            "source": ["weather", "weather"],
            "category": ["rainstorm_yellow", "rainstorm_yellow"],
            "area_id": ["gulou", "gulou"],
            "attrs": [json.dumps({"action": "issue"}), json.dumps({"action": "lift"})],
        }
    )
    areas = pl.DataFrame(
        {
            "area_id": ["fuzhou", "gulou", "taijiang"],
            "name": ["Fuzhou", "Gulou", "Taijiang"],
            "name_zh": ["福州市", "鼓楼区", "台江区"],
            "parent_id": [None, "fuzhou", "fuzhou"],
        }
    )
    return CityTables(
        series=conform("series", series),
        observations=conform("observations", obs).sort("series_id", "ts"),
        events=conform("events", events),
        weather_forecasts=conform("weather_forecasts", forecasts),
        areas=conform("areas", areas),
    )


@pytest.fixture
def tiny_city():
    return make_tiny_city()


@pytest.fixture(scope="session")
def noisy_tiny_city():
    """The tiny city with iid noise on ponding: it is 0 outside its one burst, so without noise
    some folds score nothing (what the registry's paired tests need to compare)."""
    import numpy as np
    import polars as pl

    city = make_tiny_city(days=3, seed=0)
    noise = np.random.default_rng(5).gamma(1.0, 1.0, city.observations.height)
    pond = pl.col("series_id").str.starts_with("pond")
    return city.with_observations(
        city.observations.with_columns(
            pl.when(pond).then(pl.col("value") + noise).otherwise(pl.col("value")).alias("value")
        )
    )
