"""LightGBM ``target: auto``: each horizon learns the change or the level, whichever a
held-out probe finds better."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from features import ConfigError, FeatureSpec, parse_task
from models.gbm import GradientBoostedForecaster

TASK = parse_task(
    {
        "name": "volume",
        "domain": "traffic",
        "target": {"signal": "flow_vph"},
        "frequency": "1h",
        "horizons": ["1h", "24h"],
        "model": {"family": "lightgbm"},
    }
)
SPEC = FeatureSpec(task="volume", columns=("target_now", "profile", "horizon_min"))


def frame(n_origins: int, seed: int) -> pl.DataFrame:
    """An hour ahead the volume is the volume now (over a range a tree must carve into steps);
    a day ahead it is the daily profile, whatever the volume now."""
    rng = np.random.default_rng(seed)
    t0 = datetime(2025, 6, 1, tzinfo=UTC)
    rows = []
    for i in range(n_origins):
        now = rng.uniform(0, 6000)
        for hours in (1, 24):
            profile = rng.uniform(0, 6000)
            y = now + rng.normal(0, 20) if hours == 1 else profile + rng.normal(0, 20)
            origin = t0 + timedelta(hours=i)
            rows.append(
                {
                    "series_id": "s",
                    "origin": origin,
                    "horizon": timedelta(hours=hours),
                    "ts": origin + timedelta(hours=hours),
                    "target_now": now,
                    "profile": profile,
                    "horizon_min": 60 * hours,
                    "y": max(y, 0.0),
                }
            )
    return pl.DataFrame(rows)


def mae_by_horizon(model: GradientBoostedForecaster, test: pl.DataFrame) -> dict[int, float]:
    fc = model.predict(test).join(
        test.select("series_id", "origin", "horizon", "y"), on=["series_id", "origin", "horizon"]
    )
    table = fc.group_by("horizon").agg((pl.col("yhat") - pl.col("y")).abs().mean())
    return {int(h.total_seconds() // 60): e for h, e in table.iter_rows()}


def test_auto_learns_the_change_where_it_helps_and_the_level_elsewhere() -> None:
    train, test = frame(1500, seed=1), frame(300, seed=2)
    params = {"n_estimators": 60, "num_leaves": 15}
    fitted = {
        t: GradientBoostedForecaster(task=TASK, spec=SPEC, target=t, **params).fit(train)
        for t in ("delta", "level", "auto")
    }
    assert fitted["auto"].delta_horizons_ == frozenset({60})
    errors = {t: mae_by_horizon(m, test) for t, m in fitted.items()}
    # delta wins an hour ahead, level a day ahead; auto is as good as the better at each
    assert errors["delta"][60] < errors["level"][60]
    assert errors["level"][1440] < errors["delta"][1440]
    for h in (60, 1440):
        assert errors["auto"][h] <= 1.1 * min(errors["delta"][h], errors["level"][h])
    assert fitted["auto"].params()["target"] == "auto"


def test_an_unknown_target_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as err:
        GradientBoostedForecaster(task=TASK, spec=SPEC, target="ratio")
    assert "model.params.target" in str(err.value) and "auto" in str(err.value)
