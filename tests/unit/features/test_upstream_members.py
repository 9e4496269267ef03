"""Upstream gauges one by one: each member its own features, its level above its own warning
level, and its reading one travel time ago, the travel time configured or estimated."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from features import ConfigError, estimate_travel
from features.pipeline import build_features
from features.schemas import conform
from features.tables import CityTables
from features.task_tables import task_tables
from features.tasks import parse_task

T0 = datetime(2025, 6, 1, tzinfo=UTC)
STEP = timedelta(minutes=10)
DAYS = 3


def _wave(i: np.ndarray, delay: int, base: float) -> np.ndarray:
    """A level with waves every 6 hours, passing ``delay`` bins later than at the headwater."""
    t = i - delay
    return base + 0.8 * np.maximum(np.sin(2 * np.pi * t / 36), 0) + 0.05 * np.sin(t / 7.0)


def gauges() -> CityTables:
    """A target gauge with two gauges above it: the middle one 30 minutes up, the headwater
    90 minutes up, each with its own warning level."""
    n = DAYS * 144
    i = np.arange(n)
    levels = {"head": _wave(i, 0, 0.5), "middle": _wave(i, 6, 1.7), "target": _wave(i, 9, 3.0)}
    series = pl.DataFrame(
        {
            "series_id": ["head", "middle", "target"],
            "signal": ["water_level_m"] * 3,
            "unit": ["m"] * 3,
            "area_id": ["a"] * 3,
            "attrs": [
                json.dumps({"warning_level_m": 1.0, "upstream": []}),
                json.dumps({"warning_level_m": 2.0, "upstream": ["head"]}),
                json.dumps({"warning_level_m": 3.5, "upstream": ["middle", "head"]}),
            ],
        }
    )
    obs = pl.DataFrame(
        [
            (sid, T0 + int(k) * STEP, float(v), None)
            for sid, values in levels.items()
            for k, v in zip(i, values, strict=True)
        ],
        schema={"series_id": pl.String, "ts": pl.Datetime("us", "UTC"), "value": pl.Float64,
                "received_at": pl.Datetime("us", "UTC")},
        orient="row",
    )  # fmt: skip
    return CityTables(
        series=conform("series", series),
        observations=conform("observations", obs).sort("series_id", "ts"),
        events=conform("events", pl.DataFrame()),
        weather_forecasts=conform("weather_forecasts", pl.DataFrame()),
        areas=conform("areas", pl.DataFrame({"area_id": ["a"], "name": ["A"]})),
    )


def task(upstream: dict):
    return parse_task(
        {
            "name": "gauges",
            "domain": "rivers",
            "target": {"signal": "water_level_m", "series_ids": ["target"]},
            "frequency": "10m",
            "horizons": ["1h"],
            "features": {
                "target_lags": ["10m"],
                "fill_limit": "20m",
                "observed": [
                    {"name": "upstream", "signal": "water_level_m", "link": "members:upstream",
                     "level": True, "changes": ["1h"], **upstream}
                ],
            },
            "model": {"family": "lightgbm"},
        }
    )  # fmt: skip


ORIGIN = T0 + timedelta(days=2, hours=5)


def row(frame: pl.DataFrame) -> dict:
    return frame.filter(pl.col("origin") == ORIGIN).row(0, named=True)


def level(sid: str, at: datetime) -> float:
    obs = gauges().observations
    return obs.filter((pl.col("series_id") == sid) & (pl.col("ts") == at))["value"].item()


def test_each_member_has_its_own_features_not_the_mean() -> None:
    t = task({"each": 2, "relative_to_attr": "warning_level_m"})
    frame = build_features(task_tables(gauges(), t), [ORIGIN])
    got = row(frame)
    assert got["upstream1_level"] == pytest.approx(level("middle", ORIGIN))
    assert got["upstream2_level"] == pytest.approx(level("head", ORIGIN))
    # each above its own warning level: the middle gauge's 2.0 m, the headwater's 1.0 m
    assert got["upstream1_above_attr"] == pytest.approx(level("middle", ORIGIN) - 2.0)
    assert got["upstream2_above_attr"] == pytest.approx(level("head", ORIGIN) - 1.0)
    hour_ago = ORIGIN - timedelta(hours=1)
    assert got["upstream2_change_1h"] == pytest.approx(
        level("head", ORIGIN) - level("head", hour_ago)
    )
    assert "upstream_level" not in frame.columns  # not averaged


def test_a_configured_travel_time_reads_the_member_that_long_before_the_origin() -> None:
    t = task({"each": 2, "travel": {"target": {"middle": "30m", "head": "90m"}}})
    got = row(build_features(task_tables(gauges(), t), [ORIGIN]))
    assert got["upstream1_at_travel"] == pytest.approx(level("middle", ORIGIN - 3 * STEP))
    assert got["upstream2_at_travel"] == pytest.approx(level("head", ORIGIN - 9 * STEP))


def test_estimated_travel_times_are_the_lags_of_best_correlation_before_the_cut(caplog) -> None:
    t = task({"each": 2, "travel": "estimate", "max_travel": "3h"})
    tables = task_tables(gauges(), t)
    with caplog.at_level("INFO"):
        resolved = estimate_travel(tables, T0 + timedelta(days=2))
    travel = resolved.task.features.observed[0].travel
    assert travel == {"target": {"middle": timedelta(minutes=30), "head": timedelta(minutes=90)}}
    assert "travel times estimated on data before 2025-06-03 00:00" in caplog.text
    # the resolved task is what builds the features, and what a run records
    got = row(build_features(resolved, [ORIGIN]))
    assert got["upstream2_at_travel"] == pytest.approx(level("head", ORIGIN - 9 * STEP))
    dumped = resolved.task.model_dump(mode="json")["features"]["observed"][0]["travel"]
    assert dumped == {"target": {"middle": "30m", "head": "90m"}}


def test_each_and_travel_are_refused_where_they_mean_nothing() -> None:
    with pytest.raises(ConfigError, match="each reads a members: link"):
        parse_task(
            {**task({}).model_dump(mode="json"),
             "features": {"observed": [{"name": "r", "signal": "rain_mm", "link": "area",
                                        "each": 2}]}}
        )  # fmt: skip
    with pytest.raises(ConfigError, match="travel is read per member"):
        task({"travel": "estimate"})
