"""A data scientist adds a task by writing a config, with no code: here, pumping-station load
(``pump_rate_m3s``), a signal no shipped task uses, backtested through the command line."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from serving import main

PUMP_TASK = """
name: pump_load
domain: pumping
description: Pumping-station load 1-3 h ahead, for the water-system centre's shift planning.
target: {signal: pump_rate_m3s}
frequency: 10m
horizons: [1h, 2h, 3h]
features:
  target_lags: [10m, 1h]
  target_maxes: [6h]
  target_changes: [30m]
  season_ref: 1d
  observed:
    - {name: river, signal: water_level_m, link: river_gauge, level: true, changes: [1h],
       relative_to_attr: warning_level_m}
    - {name: rain_area, signal: rain_mm, link: area, sums: [1h, 6h], api_days: 3}
  known_ahead:
    - {name: fcst_rain, variable: rain_mm}
  calendar: [hour, workday]
model:
  family: lightgbm
  params: {n_estimators: 30, min_child_samples: 10}
backtest: {folds: 2, fold_length: 2d, min_train: 5d}
"""


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pump") / "data"
    result = CliRunner().invoke(
        main,
        [
            "simulate",
            "--out",
            str(out),
            "--days",
            "16",
            "--start",
            "2025-06-01",
            "--typhoon",
            "2025-06-14T00:00:00+00:00",
        ],
    )
    assert result.exit_code == 0, result.output
    return out


def test_a_new_task_on_an_unused_signal_backtests_from_its_config_alone(city, tmp_path):
    config = tmp_path / "pump_load.yaml"
    config.write_text(PUMP_TASK)
    preds = tmp_path / "preds.parquet"
    result = CliRunner().invoke(
        main, ["backtest", "--data", str(city), "--task", str(config), "--out", str(preds)]
    )
    assert result.exit_code == 0, result.output
    assert "MAE by horizon (pump_rate_m3s)" in result.output
    # horizons are printed as they are written in configs (1h, not 60min)
    words = result.output.split()
    assert {"1h", "2h", "3h"} <= set(words) and "60min" not in words
    frame = pl.read_parquet(preds)
    assert set(frame["model"]) == {"lightgbm", "seasonal_naive"}
    assert frame["series_id"].str.starts_with("pump-").all()
    assert {"q10", "q50", "q90", "y"} <= set(frame.columns)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (("  season_ref: 1d\n", "  season_ref: 1d\n  seson: 1d\n"), "features.seson: unknown key"),
        (("family: lightgbm", "family: xgboost"), "model.family"),
        (("calendar: [hour, workday]", "calendar: [hour, payday]"), "allowed:"),
        (("horizons: [1h, 2h, 3h]", "horizons: [1h, 25m]"), "horizons[1]"),
    ],
)
def test_config_errors_name_the_key_path_and_the_allowed_values(city, tmp_path, edit, expected):
    config = tmp_path / "broken.yaml"
    config.write_text(PUMP_TASK.replace(*edit))
    result = CliRunner().invoke(
        main,
        [
            "backtest",
            "--data",
            str(city),
            "--task",
            str(config),
            "--out",
            str(tmp_path / "p.parquet"),
        ],
    )
    assert result.exit_code == 2
    assert expected in result.output
    assert not (tmp_path / "p.parquet").exists()


def test_candidates_an_ensemble_and_calibration_come_from_the_config_alone(city, tmp_path):
    config = tmp_path / "pump_select.yaml"
    config.write_text(
        PUMP_TASK.replace(
            "backtest: {folds: 2",
            "candidates:\n  - {family: historical_average}\n"
            "selection: {metric: mae, ensemble: true, top: 2}\n"
            "calibration: {method: scale, holdout: 2d}\n"
            "backtest: {folds: 3",
        )
    )
    preds = tmp_path / "preds.parquet"
    result = CliRunner().invoke(
        main, ["backtest", "--data", str(city), "--task", str(config), "--out", str(preds)]
    )
    assert result.exit_code == 0, result.output
    assert "selected: " in result.output
    assert "randomised PIT" in result.output
    frame = pl.read_parquet(preds)
    assert set(frame["model"]) == {"lightgbm", "historical_average", "ensemble", "seasonal_naive"}
    # the ensemble forecasts the same rows as its members
    rows = frame.group_by("model").len()
    assert rows["len"].n_unique() == 1


def test_a_new_task_warns_by_its_config_alone_at_each_targets_own_levels(city, tmp_path):
    """Pump load near each station's own capacity (its catalog attr) warns red; a fixed
    10 m3/s warns yellow: no code, one config section."""
    config = tmp_path / "pump_warn.yaml"
    config.write_text(
        PUMP_TASK
        + "warning:\n  probability: 0.5\n  levels:\n"
        + "    - {level: yellow, threshold: 10}\n    - {level: red, attr: capacity_m3s}\n"
    )
    preds = tmp_path / "preds.parquet"
    result = CliRunner().invoke(
        main, ["backtest", "--data", str(city), "--task", str(config), "--out", str(preds)]
    )
    assert result.exit_code == 0, result.output
    assert "Warning skill by level (threshold rule" in result.output
    frame = pl.read_parquet(preds)
    assert {"t_yellow", "p_yellow", "t_red", "p_red"} <= set(frame.columns)
    assert (frame["t_yellow"] == 10.0).all()
    capacity = (
        pl.read_parquet(city / "series.parquet")
        .filter(pl.col("signal") == "pump_rate_m3s")
        .select("series_id", pl.col("attrs").str.json_path_match("$.capacity_m3s").cast(float))
    )
    own = frame.select("series_id", "t_red").unique().join(capacity, on="series_id")
    assert own.height == capacity.height and (own["t_red"] == own["attrs"]).all()
    assert frame["p_red"].is_between(0.0, 1.0).all()
