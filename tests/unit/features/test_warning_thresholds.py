"""Warning rules: what a valid rule is, and each target's thresholds at each forecast time."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
import yaml

from features.errors import ConfigError, DataError
from features.history import TargetHistory
from features.tasks import parse_task, shipped_tasks_dir
from features.warning_thresholds import warning_memory, warning_thresholds

HOUR = timedelta(hours=1)
START = datetime(2025, 6, 2, tzinfo=UTC)  # a Monday, 08:00 in Shanghai


def _task(warning: dict, *, signal: str = "ponding_cm", frequency: str = "1h"):
    raw = yaml.safe_load((shipped_tasks_dir() / "waterlogging.yaml").read_text(encoding="utf-8"))
    raw |= {"frequency": frequency, "horizons": ["1h", "2h"], "warning": warning}
    raw["target"] = {"signal": signal}
    raw["features"] |= {
        "target_lags": ["1h"],
        "target_maxes": ["6h"],
        "target_changes": ["1h"],
        "fill_limit": "1h",
        "season_ref": "1h",
        "observed": [],
        "known_ahead": [],
    }
    return parse_task(raw)


def _targets(rows: dict[str, dict]) -> pl.DataFrame:
    return pl.DataFrame({"series_id": list(rows), "attrs": [json.dumps(a) for a in rows.values()]})


def _keys(series: list[str], origin: datetime, horizons: int = 2) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "series_id": [s for s in series for _ in range(horizons)],
            "origin": [origin] * (len(series) * horizons),
            "ts": [origin + (h + 1) * HOUR for _ in series for h in range(horizons)],
        },
        schema={
            "series_id": pl.String,
            "origin": pl.Datetime("us", "UTC"),
            "ts": pl.Datetime("us", "UTC"),
        },
    )


def test_a_targets_own_catalog_level_overrides_the_tasks_and_a_missing_one_is_no_level() -> None:
    task = _task(
        {
            "levels": [
                {"level": "blue", "threshold": 4.0, "attr": "watch_level_m"},
                {"level": "yellow", "attr": "warning_level_m"},
            ]
        }
    )
    targets = _targets({"g1": {"watch_level_m": 3.2, "warning_level_m": 3.9}, "g2": {}})
    out = warning_thresholds(_keys(["g1", "g2"], START), task, targets).sort("series_id")
    assert out["t_blue"].to_list() == [3.2, 3.2, 4.0, 4.0]
    assert out["t_yellow"].to_list() == [3.9, 3.9, None, None]
    assert warning_memory(task) == timedelta(0)


def test_an_offset_moves_a_gauges_own_level_and_applies_only_with_an_attr() -> None:
    task = _task(
        {
            "levels": [
                {"level": "blue", "attr": "warning_level_m", "offset": -0.3},
                {"level": "yellow", "attr": "warning_level_m"},
                {"level": "red", "attr": "guarantee_level_m"},
            ]
        }
    )
    targets = _targets({"g": {"warning_level_m": 5.0, "guarantee_level_m": 5.8}, "bare": {}})
    out = warning_thresholds(_keys(["g", "bare"], START, 1), task, targets).sort("series_id")
    assert out["t_blue"].to_list() == [None, pytest.approx(4.7)]
    assert out["t_yellow"].to_list() == [None, 5.0] and out["t_red"].to_list() == [None, 5.8]


def _history(values: np.ndarray, ids: list[str], targets: pl.DataFrame) -> TargetHistory:
    return TargetHistory(values, tuple(ids), START, HOUR, targets)


def test_a_surge_threshold_is_the_factor_times_the_same_hour_over_the_weeks_known() -> None:
    task = _task(
        {
            "kind": "surge",
            "surge": {"weeks": 2, "min_norm": 2.5},
            "levels": [{"level": "blue", "factor": 1.5}, {"level": "yellow", "factor": 2.0}],
        },
        signal="hotline_count",
    )
    week = 7 * 24
    n = 3 * week
    values = np.zeros((2, n))
    values[0, :] = 2.0
    values[0, 2 * week + 1 - week] = 10.0  # one week before the first forecast time
    values[1, :] = np.nan
    targets = _targets({"busy": {}, "new": {}})
    origin = START + 2 * week * HOUR
    out = warning_thresholds(
        _keys(["busy", "new"], origin), task, targets, _history(values, ["busy", "new"], targets)
    ).sort("series_id", "ts")
    # ts = origin + 1h: the norm of 10 (a week back) and 2 (two weeks back) is 6
    assert out["t_blue"].to_list()[:2] == [9.0, 3.75]  # 1.5 * 6; 1.5 * (2 raised to 2.5)
    assert out["t_yellow"].to_list()[:2] == [12.0, 5.0]
    assert out.filter(pl.col("series_id") == "new")["t_blue"].to_list() == [None, None]
    assert warning_memory(task) == 2 * timedelta(days=7) + HOUR


def test_a_surge_norm_never_reads_a_week_after_the_origin() -> None:
    task = _task(
        {
            "kind": "surge",
            "surge": {"weeks": 1, "min_norm": 0},
            "levels": [{"level": "blue", "factor": 2.0}],
        },
        signal="hotline_count",
    )
    targets = _targets({"s": {}})
    values = np.arange(400, dtype=float)[None, :]
    keys = pl.DataFrame(
        {"series_id": ["s"], "origin": [START + 10 * HOUR], "ts": [START + 200 * HOUR]},
        schema={
            "series_id": pl.String,
            "origin": pl.Datetime("us", "UTC"),
            "ts": pl.Datetime("us", "UTC"),
        },
    )
    out = warning_thresholds(keys, task, targets, _history(values, ["s"], targets))
    assert out["t_blue"].to_list() == [None]  # 200 h - 1 week is after the origin


def test_congestion_is_a_share_of_free_flow_from_the_catalog_else_the_night_speeds() -> None:
    task = _task(
        {
            "kind": "congestion",
            "direction": "below",
            "congestion": {"corridors": ["Ring"], "night_hours": [0, 5], "learn_window": "2d"},
            "levels": [{"level": "blue", "share": 0.5}, {"level": "yellow", "share": 0.25}],
        },
        signal="speed_kmh",
    )
    targets = _targets(
        {
            "a": {"corridor": "Ring", "free_flow_kmh": 80.0},
            "b": {"corridor": "Ring"},
            "c": {"corridor": "Side street", "free_flow_kmh": 50.0},
        }
    )
    n = 72
    values = np.full((3, n), 30.0)
    local = (
        pl.Series([START + i * HOUR for i in range(n)])
        .dt.convert_time_zone("Asia/Shanghai")
        .dt.hour()
        .to_numpy()
    )
    values[1, (local >= 0) & (local < 5)] = 60.0  # b is free at night
    origin = START + (n - 1) * HOUR
    out = warning_thresholds(
        _keys(["a", "b", "c"], origin), task, targets, _history(values, ["a", "b", "c"], targets)
    ).sort("series_id", "ts")
    assert out["t_blue"].to_list() == [40.0, 40.0, 30.0, 30.0, None, None]
    assert out["t_yellow"].to_list() == [20.0, 20.0, 15.0, 15.0, None, None]


def test_a_rule_that_reads_history_without_one_is_a_data_error() -> None:
    task = _task(
        {"kind": "surge", "levels": [{"level": "blue", "factor": 2.0}]}, signal="hotline_count"
    )
    with pytest.raises(DataError, match="reads the target's history"):
        warning_thresholds(_keys(["s"], START), task, _targets({"s": {}}))


@pytest.mark.parametrize(
    ("warning", "key", "message"),
    [
        (
            {"kind": "surge", "levels": [{"level": "blue", "threshold": 3}]},
            "warning.levels",
            "a surge rule's level takes factor, not threshold",
        ),
        (
            {
                "kind": "congestion",
                "direction": "below",
                "levels": [{"level": "blue", "share": 0.3}, {"level": "yellow", "share": 0.6}],
            },
            "warning",
            "shares must decrease with severity",
        ),
        (
            {"kind": "congestion", "levels": [{"level": "blue", "share": 0.3}]},
            "warning",
            "a congestion rule's direction is 'below'",
        ),
        (
            {"levels": [{"level": "blue", "threshold": 5}, {"level": "blue", "threshold": 9}]},
            "warning.levels",
            "each level once",
        ),
        (
            {"levels": [{"level": "blue", "threshold": 5}], "surge": {"weeks": 2}},
            "warning",
            "a threshold rule takes no 'surge' section",
        ),
        (
            {
                "levels": [{"level": "blue", "threshold": 5}],
                "probability": 0.3,
                "clear_margin": 0.3,
            },
            "warning",
            "clear_margin 0.3 must be below probability",
        ),
        ({"levels": [{"level": "purple", "threshold": 5}]}, "warning.levels[0].level", ""),
        (
            {"levels": [{"level": "blue", "threshold": 5, "offset": 0.2}]},
            "warning.levels",
            "offset is added to an attr; name one",
        ),
        (
            {"kind": "surge", "levels": [{"level": "blue", "factor": 0.8}]},
            "warning.levels[0].factor",
            "greater than 1",
        ),
    ],
)
def test_a_bad_warning_rule_names_its_key_path(warning: dict, key: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        _task(warning)
    assert err.value.key == key
    assert message in str(err.value)


def test_levels_are_read_in_order_of_severity_whatever_order_they_are_written() -> None:
    task = _task({"levels": [{"level": "red", "threshold": 20}, {"level": "blue", "threshold": 5}]})
    assert task.warning is not None
    assert [lv.level for lv in task.warning.levels] == ["blue", "red"]
