"""The rate-of-rise rule: the last hour's trend drawn on in a straight line, toward the warning's
direction only, from the latest reading it has; a rule, so its quantiles are one value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from features import ConfigError, FeatureSpec, ModelSpec, TargetHistory, parse_task
from models import build_forecaster, with_exceedance

T0 = datetime(2025, 7, 1, tzinfo=UTC)
STEP = timedelta(minutes=10)
HOUR = timedelta(hours=1)


def _task(direction: str = "above"):
    return parse_task(
        {
            "name": "gauges",
            "domain": "rivers",
            "target": {"signal": "water_level_m"},
            "frequency": "10m",
            "horizons": ["1h", "2h"],
            "model": {"family": "lightgbm"},
            "warning": {
                "direction": direction,
                "probability": 0.4,
                "levels": [{"level": "yellow", "threshold": 2.0 if direction == "above" else 0.5}],
            },
        }
    )


def _history(values: dict[str, list[float]]) -> TargetHistory:
    ids = tuple(values)
    matrix = np.array([values[s] for s in ids], dtype=float)
    series = pl.DataFrame({"series_id": list(ids), "area_id": ["a"] * len(ids)})
    return TargetHistory(matrix, ids, T0, STEP, series)


def _rows(ids: list[str], origin: datetime) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {"series_id": s, "origin": origin, "ts": origin + h, "horizon": h}
            for s in ids
            for h in (HOUR, 2 * HOUR)
        ],
        schema_overrides={"origin": pl.Datetime("us", "UTC"), "ts": pl.Datetime("us", "UTC")},
    )


TRAIN = pl.DataFrame({"series_id": ["rising", "falling", "speed", "new"], "y": [1.5, 1.0, 55, 0.7]})


def _rule(task, **params):
    spec = FeatureSpec(task=task.name, columns=())
    return build_forecaster(ModelSpec(family="rate_of_rise", params=params), task=task, spec=spec)


def test_a_rise_is_drawn_on_and_warns_before_the_level_a_fall_is_held_flat() -> None:
    task = _task()
    # 13 readings (two hours) ending at the origin: a gauge rising 0.3 m an hour, one falling
    rising = [1.0 + 0.05 * i for i in range(13)]
    falling = [2.0 - 0.05 * i for i in range(13)]
    hist = _history({"rising": rising, "falling": falling})
    origin = T0 + 12 * STEP
    rule = _rule(task).fit(TRAIN, hist)
    out = rule.predict(_rows(["rising", "falling"], origin), hist).sort("series_id", "horizon")
    up = out.filter(pl.col("series_id") == "rising")
    assert up["yhat"].to_list() == pytest.approx([1.6 + 0.3, 1.6 + 0.6])
    assert (up["q10"] == up["q90"]).all()  # a rule has no spread
    down = out.filter(pl.col("series_id") == "falling")
    assert down["yhat"].to_list() == pytest.approx([1.4, 1.4])
    thresholds = out.select("series_id", "origin", "ts").with_columns(pl.lit(2.0).alias("t_yellow"))
    p = with_exceedance(out, task, thresholds).sort("series_id", "horizon")
    # the rising gauge reaches 2.0 m within two hours, not within one: certain, then not
    assert p.filter(pl.col("series_id") == "rising")["p_yellow"].to_list() == [0.0, 1.0]
    assert p.filter(pl.col("series_id") == "falling")["p_yellow"].to_list() == [0.0, 0.0]


def test_a_below_rule_draws_falls_and_a_late_reading_is_drawn_from_where_it_was_read() -> None:
    task = _task("below")
    # a speed falling 6 km/h an hour, its last two readings missing at the origin
    speed = [60.0 - 1.0 * i for i in range(13)]
    speed[-2:] = [np.nan, np.nan]
    hist = _history({"speed": speed})
    origin = T0 + 12 * STEP
    out = _rule(task).fit(TRAIN, hist).predict(_rows(["speed"], origin), hist)
    # latest reading 50 at origin - 20 min, trend -6/h over the hour before it
    assert out.sort("horizon")["yhat"].to_list() == pytest.approx(
        [50 - 6 * 80 / 60, 50 - 6 * 140 / 60]
    )


def test_without_a_trend_it_holds_and_without_readings_it_falls_back_to_the_median() -> None:
    """The rule forecasts every row the model does (both are scored on the same rows): no
    reading a window earlier holds the latest flat, no reading at all gives the median."""
    task = _task()
    hist = _history({"new": [np.nan] * 12 + [1.0], "rising": [np.nan] * 13})
    out = _rule(task).fit(TRAIN, hist).predict(_rows(["new", "rising"], T0 + 12 * STEP), hist)
    out = out.sort("series_id", "horizon")
    assert out["yhat"].to_list() == pytest.approx([1.0, 1.0, 1.5, 1.5])
    assert out["yhat"].null_count() == 0
    with pytest.raises(ConfigError, match="whole number"):
        _rule(task, window="15m")
