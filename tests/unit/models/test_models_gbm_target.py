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


def test_rise_weight_weighs_rising_rows_up_to_its_factor_and_lifts_their_quantiles() -> None:
    """Event-weighted training: a row weighs 1 + (w - 1) x its rise as a share of the 95th
    percentile rise (falls weigh 1), so the boosters' quantiles in a situation where the target
    sometimes surges move up toward the surges (the price, counted as false alarms)."""
    from models.gbm import _rise_weights

    rows = pl.DataFrame({"y": [1.0, 0.5, 2.0, 11.0], "target_now": [1.0, 1.0, 1.0, 1.0]})
    weights = _rise_weights(rows, 4.0)
    # rises 0, fall, 1, 10: the 95th percentile of the rises (1, 10) is 9.55
    assert weights[:2].tolist() == [1.0, 1.0]
    assert weights[2] == pytest.approx(1 + 3 * 1 / 9.55)
    assert weights[3] == 4.0
    rng = np.random.default_rng(0)
    now = rng.uniform(0, 1, 4000)
    surge = rng.random(4000) < 0.2  # one row in five rises by 5, the rest stay put
    train = pl.DataFrame(
        {
            "series_id": "s",
            "origin": [datetime(2025, 6, 1, tzinfo=UTC) + timedelta(hours=i) for i in range(4000)],
            "horizon": timedelta(hours=1),
            "target_now": now,
            "profile": 0.0,
            "horizon_min": 60,
            "y": now + np.where(surge, 5.0, 0.0),
        }
    ).with_columns((pl.col("origin") + pl.col("horizon")).alias("ts"))
    plain = GradientBoostedForecaster(task=TASK, spec=SPEC, n_estimators=30).fit(train)
    weighted = GradientBoostedForecaster(
        task=TASK, spec=SPEC, n_estimators=30, rise_weight=8.0
    ).fit(train)
    # surges are a fifth of the rows but two thirds of the weight: the median follows them
    q50 = [m.predict(train.head(200))["q50"].mean() for m in (plain, weighted)]
    assert q50[1] > q50[0] + 2.0
    with pytest.raises(ConfigError, match="rise_weight must be at least 1"):
        GradientBoostedForecaster(task=TASK, spec=SPEC, rise_weight=0.5)
