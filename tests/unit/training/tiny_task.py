"""The tiny ponding task and city the training unit tests share: a 10-minute grid, 10 min and
1 h ahead, the sensor's own lags and the linked gauge's hourly rain, on ``make_tiny_city``."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from features import CityTables


def tiny_task_dict(name: str, season_ref: str | None = "10m", **sections: Any) -> dict[str, Any]:
    """The task as a config mapping, ``sections`` replacing or adding top-level keys
    (``season_ref``: the seasonal-naive baseline's season; None for a task without one)."""
    task = {
        "name": name,
        "domain": "waterlogging",
        "target": {"signal": "ponding_cm"},
        "frequency": "10m",
        "horizons": ["10m", "1h"],
        "features": {
            "target_lags": ["10m", "30m"],
            "target_maxes": ["1h"],
            "target_changes": [],
            "observed": [
                {"name": "rain", "signal": "rain_mm", "link": "rain_gauge", "sums": ["1h"]}
            ],
            "calendar": ["hour"],
        },
        "model": {"family": "lightgbm", "params": {"n_estimators": 20, "min_child_samples": 5}},
        "train": {"origin_stride": "30m", "quiet_fraction": 1.0},
        "backtest": {"folds": 2, "fold_length": "6h", "origin_stride": "1h", "min_train": "12h"},
        **sections,
    }
    if season_ref is not None:
        task["features"]["season_ref"] = season_ref
    return task


def tiny_city(days: int = 3, seed: int = 0) -> CityTables:
    """``make_tiny_city`` from the tests' root conftest (loaded by path: it is not a package)."""
    path = Path(__file__).resolve().parents[2] / "conftest.py"
    spec = importlib.util.spec_from_file_location("_citybrain_root_conftest", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_tiny_city(days=days, seed=seed)
