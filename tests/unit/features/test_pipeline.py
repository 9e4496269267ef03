"""build_features on hand-sized cities: windows, gaps, fills, late rows, signals, forecasts."""

from __future__ import annotations

import functools
import importlib.util
import json
import math
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from features.errors import ConfigError, DataError
from features.pipeline import KEY_COLUMNS, build_features
from features.schemas import conform
from features.signals import rainstorm_level
from features.tables import CityTables
from features.task_tables import task_tables
from features.tasks import TaskConfig, parse_task

STEP = timedelta(minutes=10)
T0 = datetime(2025, 6, 1, tzinfo=UTC)


def short_task(**features) -> TaskConfig:
    recipe = {
        "target_lags": ["10m", "30m"],
        "target_maxes": ["1h"],
        "target_changes": ["30m"],
        "fill_limit": "20m",
        "season_ref": "10m",
        "observed": [
            {
                "name": "rain_gauge",
                "signal": "rain_mm",
                "link": "rain_gauge",
                "sums": ["10m", "30m", "1h"],
                "maxes": ["30m"],
            },
            {"name": "rain_area", "signal": "rain_mm", "link": "area", "sums": ["1h"]},
            {"name": "river", "signal": "water_level_m", "link": "river_gauge", "level": True},
        ],
        "known_ahead": [{"name": "fcst_rain", "variable": "rain_mm", "aggregate": "sum"}],
        "calendar": ["hour", "month"],
        "rainstorm_signal": True,
    }
    recipe.update(features)
    return parse_task(
        {
            "name": "short",
            "domain": "waterlogging",
            "target": {"signal": "ponding_cm"},
            "frequency": "10m",
            "horizons": ["10m", "1h", "3h", "6h"],
            "features": recipe,
            "model": {"family": "lightgbm"},
        }
    )


@functools.cache
def tiny_city(days: int = 3) -> CityTables:
    path = Path(__file__).resolve().parents[2] / "conftest.py"
    spec = importlib.util.spec_from_file_location("_citybrain_root_conftest", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_tiny_city(days=days, seed=0)


def hand_city(
    pond: dict[int, float | tuple[float, int]],
    *,
    river: dict[int, float] | None = None,
    start: datetime = T0,
    events: list[tuple[int, str, str, str]] = (),
) -> CityTables:
    """One ponding sensor with its gauge and river; keys are minutes after ``start``.

    A pond value given as ``(value, received_minute)`` arrived at that minute.
    """
    series = pl.DataFrame(
        {
            "series_id": ["pond-1", "rain-1", "river-1"],
            "signal": ["ponding_cm", "rain_mm", "water_level_m"],
            "unit": ["cm", "mm", "m"],
            "area_id": ["gulou"] * 3,
            "attrs": [
                json.dumps({"rain_gauge": "rain-1", "river_gauge": "river-1"}),
                "{}",
                json.dumps({"warning_level_m": 6.5}),
            ],
        }
    )
    rows = []
    for minute, v in pond.items():
        value, received = v if isinstance(v, tuple) else (v, None)
        rec = start + timedelta(minutes=received) if received is not None else None
        rows.append(("pond-1", start + timedelta(minutes=minute), float(value), rec))
    for minute in range(0, 24 * 60, 10):
        rows.append(("rain-1", start + timedelta(minutes=minute), 0.0, None))
    for minute, value in (river or {}).items():
        rows.append(("river-1", start + timedelta(minutes=minute), float(value), None))
    observations = pl.DataFrame(
        rows,
        schema={
            "series_id": pl.String,
            "ts": pl.Datetime("us", "UTC"),
            "value": pl.Float64,
            "received_at": pl.Datetime("us", "UTC"),
        },
        orient="row",
    )
    ev = pl.DataFrame(
        {
            "event_id": [f"e{i}" for i in range(len(events))],
            "ts": [start + timedelta(minutes=e[0]) for e in events],
            "source": ["weather"] * len(events),
            "category": [e[1] for e in events],
            "area_id": [e[2] for e in events],
            "attrs": [json.dumps({"action": e[3]}) for e in events],
        },
        schema_overrides={"ts": pl.Datetime("us", "UTC")},
    )
    return CityTables(
        series=conform("series", series),
        observations=conform("observations", observations).sort("series_id", "ts"),
        events=conform("events", ev),
        weather_forecasts=conform("weather_forecasts", pl.DataFrame()),
        areas=conform("areas", pl.DataFrame({"area_id": ["gulou"], "name": ["Gulou"]})),
    )


def at(frame: pl.DataFrame, origin: datetime, horizon: timedelta = STEP) -> dict:
    rows = frame.filter((pl.col("origin") == origin) & (pl.col("horizon") == horizon))
    assert rows.height == 1
    return rows.row(0, named=True)


# windows ------------------------------------------------------------------------------


def _oracle_sum(values: dict[datetime, float], end: datetime, n: int) -> float | None:
    present = [values[end - k * STEP] for k in range(n) if end - k * STEP in values]
    return sum(present) if len(present) >= 0.8 * n else None


def test_rain_window_sums_match_a_slow_loop_oracle_with_gaps() -> None:
    city = tiny_city(3)
    rng = random.Random(3)
    rain = city.observations.filter(pl.col("series_id").str.starts_with("rain"))
    keep = [rng.random() > 0.15 for _ in range(rain.height)]
    kept = rain.filter(pl.Series(keep))
    tables = city.with_observations(
        pl.concat(
            [city.observations.filter(~pl.col("series_id").str.starts_with("rain")), kept]
        ).sort("series_id", "ts")
    )
    origins = [T0 + timedelta(days=1, hours=8) + k * STEP for k in range(40)]
    out = build_features(
        task_tables(tables, short_task(), live_until=max(origins)), origins, with_target=False
    )
    out = out.filter(pl.col("horizon") == STEP)
    gauges = {"pond-1": "rain-1", "pond-2": "rain-2"}
    checked = 0
    for row in out.iter_rows(named=True):
        gauge = kept.filter(pl.col("series_id") == gauges[row["series_id"]])
        values = dict(zip(gauge["ts"].to_list(), gauge["value"].to_list(), strict=True))
        for name, n in (("10m", 1), ("30m", 3), ("1h", 6)):
            expected = _oracle_sum(values, row["origin"], n)
            got = row[f"rain_gauge_sum_{name}"]
            assert (got is None) == (expected is None), (row["origin"], name)
            if expected is not None:
                assert math.isclose(got, expected, abs_tol=1e-9)
                checked += 1
        # each area has one gauge, so the area mean is that gauge
        expected = _oracle_sum(values, row["origin"], 6)
        got = row["rain_area_sum_1h"]
        assert (got is None) == (expected is None)
        if expected is not None:
            assert math.isclose(got, expected, abs_tol=1e-9)
    assert checked > 100


def test_rain_sums_are_null_not_zero_when_more_than_a_fifth_of_the_window_is_missing() -> None:
    city = tiny_city(3)
    origin = T0 + timedelta(days=1, hours=12)
    # two of the six 10-minute bins of the last hour are missing at rain-1
    gone = [origin - STEP, origin - 3 * STEP]
    tables = city.with_observations(
        city.observations.filter(~((pl.col("series_id") == "rain-1") & pl.col("ts").is_in(gone)))
    )
    out = build_features(
        task_tables(tables, short_task(), live_until=origin), [origin], with_target=False
    )
    row = out.filter((pl.col("series_id") == "pond-1") & (pl.col("horizon") == STEP)).row(
        0, named=True
    )
    assert row["rain_gauge_sum_1h"] is None
    assert row["rain_gauge_sum_30m"] is None
    assert row["rain_gauge_sum_10m"] is not None  # the origin's own bin is present
    assert row["rain_area_sum_1h"] is None
    # one missing bin of six (17 %) still gives a sum
    tables = city.with_observations(
        city.observations.filter(~((pl.col("series_id") == "rain-1") & (pl.col("ts") == gone[1])))
    )
    out = build_features(
        task_tables(tables, short_task(), live_until=origin), [origin], with_target=False
    )
    assert at(out.filter(pl.col("series_id") == "pond-1"), origin)["rain_gauge_sum_1h"] is not None


def test_features_at_an_origin_do_not_depend_on_the_other_origins_in_the_batch() -> None:
    city = tiny_city(3)
    origin = T0 + timedelta(days=2, hours=12)
    alone = build_features(
        task_tables(city, short_task(), live_until=origin), [origin], with_target=False
    )
    batch = build_features(
        task_tables(city, short_task(), live_until=max([T0 + timedelta(days=1, hours=9), origin])),
        [T0 + timedelta(days=1, hours=9), origin],
        with_target=False,
    ).filter(pl.col("origin") == origin)
    assert_frame_equal(batch, alone, check_exact=True)


# fills, masks and late rows ----------------------------------------------------------


def test_levels_are_forward_filled_for_at_most_the_fill_limit() -> None:
    pond = {m: float(m) / 10 for m in range(0, 61, 10)}  # then silent from minute 70
    river = {m: 5.0 + m / 100 for m in range(0, 61, 10)}
    tables = hand_city(pond, river=river)
    origins = [T0 + timedelta(minutes=m) for m in (60, 70, 80, 90)]
    out = build_features(
        task_tables(tables, short_task(), live_until=max(origins)), origins, with_target=False
    )
    now = [at(out, o)["target_now"] for o in origins]
    assert now == [6.0, 6.0, 6.0, None]  # fill_limit 20m: two steps filled, the third is not
    levels = [at(out, o)["river_level"] for o in origins]
    assert levels == [5.6, 5.6, 5.6, None]
    assert at(out, origins[1])["target_lag_10m"] == 6.0


def test_out_of_range_values_are_masked_and_never_reach_the_features() -> None:
    pond = {0: 1.0, 10: 2.0, 20: 3.0, 30: 500.0, 40: -2.0, 50: 4.0, 60: 5.0}
    tables = hand_city(pond)
    origins = [T0 + timedelta(minutes=m) for m in (20, 30, 40, 50)]
    out = build_features(task_tables(tables, short_task(), live_until=max(origins)), origins)
    assert at(out, origins[0])["y"] is None  # y at minute 30 (500 cm) is masked
    assert at(out, origins[1])["y"] is None  # y at minute 40 (-2 cm) is masked
    assert at(out, origins[2])["y"] == 4.0
    # masked bins count as missing: the level carries the last valid value
    assert at(out, origins[1])["target_now"] == 3.0
    assert at(out, origins[2])["target_now"] == 3.0
    assert at(out, origins[3])["target_max_1h"] == 4.0


def test_rows_received_after_the_signal_latency_are_left_out() -> None:
    pond = {0: 1.0, 10: 2.0, 20: (9.0, 25), 30: (7.0, 30), 40: 4.0}
    tables = hand_city(pond)
    origins = [T0 + timedelta(minutes=m) for m in (10, 20, 30)]
    out = build_features(task_tables(tables, short_task(), live_until=max(origins)), origins)
    assert at(out, origins[0])["y"] is None  # the value at 20 came five minutes late
    assert at(out, origins[1])["target_now"] == 2.0  # filled from minute 10, not the late 9
    assert at(out, origins[1])["y"] == 7.0  # received on time (latency 0)
    assert at(out, origins[2])["target_now"] == 7.0


# rainstorm signals --------------------------------------------------------------------


def test_rainstorm_level_follows_issue_and_lift_and_a_simultaneous_change_keeps_the_issue() -> None:
    t = [T0 + timedelta(hours=h) for h in range(8)]
    events = conform(
        "events",
        pl.DataFrame(
            {
                "event_id": [f"e{i}" for i in range(7)],
                "ts": [t[1], t[3], t[3], t[5], t[2], t[2], t[4]],
                "source": ["weather"] * 5 + ["hotline", "weather"],
                "category": [
                    "rainstorm_yellow",
                    "rainstorm_yellow",  # lift yellow ...
                    "rainstorm_red",  # ... and issue red at the same time
                    "rainstorm_red",
                    "rainstorm_blue",  # another district
                    "rainstorm_red",  # not the weather service
                    "typhoon_red",  # not a rainstorm
                ],
                "area_id": ["gulou"] * 4 + ["taijiang", "gulou", "gulou"],
                "attrs": [json.dumps({"action": a}) for a in ("issue", "lift", "issue", "lift")]
                + [json.dumps({"action": "issue"})] * 3,
            }
        ),
    )
    rows = pl.DataFrame({"area_id": ["gulou"] * 8 + ["taijiang"], "origin": [*t, t[2]]})
    levels = rainstorm_level(rows, events).to_list()
    assert levels == [0, 2, 2, 4, 4, 0, 0, 0, 1]
    # the stacked simultaneous events give the issued level whatever their order
    swapped = events.reverse()
    assert rainstorm_level(rows, swapped).to_list() == levels


def test_build_features_takes_the_rainstorm_level_in_force_at_the_origin() -> None:
    events = [
        (60, "rainstorm_orange", "gulou", "issue"),
        (120, "rainstorm_orange", "gulou", "lift"),
    ]
    tables = hand_city({m: 0.0 for m in range(0, 300, 10)}, events=events)
    origins = [T0 + timedelta(minutes=m) for m in (50, 60, 110, 120)]
    out = build_features(
        task_tables(tables, short_task(), live_until=max(origins)), origins, with_target=False
    )
    for o, level in zip(origins, [0, 3, 3, 0], strict=True):
        assert set(out.filter(pl.col("origin") == o)["rainstorm_level"].to_list()) == {level}


# known-ahead forecasts ----------------------------------------------------------------


def test_forecast_sum_is_the_latest_issues_hourly_values_in_the_horizon_window() -> None:
    city = tiny_city(3)
    fc = city.weather_forecasts.filter(pl.col("variable") == "rain_mm")
    origins = [
        T0 + timedelta(days=1, hours=6),  # exactly at an issue
        T0 + timedelta(days=1, hours=7, minutes=30),
        T0 + timedelta(days=1, hours=11, minutes=50),
    ]
    out = build_features(
        task_tables(city, short_task(), live_until=max(origins)), origins, with_target=False
    )
    assert out.height == 2 * 3 * 4
    for row in out.iter_rows(named=True):
        mine = fc.filter(
            (pl.col("area_id") == row["area_id"]) & (pl.col("issued_at") <= row["origin"])
        )
        latest = mine["issued_at"].max()
        expected = sum(
            v
            for issued, valid, v in zip(
                mine["issued_at"], mine["valid_at"], mine["value"], strict=True
            )
            if issued == latest and row["origin"] < valid <= row["ts"]
        )
        assert math.isclose(row["fcst_rain"], expected, abs_tol=1e-9), row
    assert out["fcst_rain"].max() > 0  # the burst is in the window: the check is not vacuous


def test_forecast_feature_is_null_before_the_first_issue() -> None:
    city = tiny_city(3)
    late = city.weather_forecasts.with_columns(pl.col("issued_at") + timedelta(hours=3))
    tables = CityTables(city.series, city.observations, city.events, late, city.areas)
    out = build_features(
        task_tables(tables, short_task(), live_until=T0 + timedelta(hours=2)),
        [T0 + timedelta(hours=2)],
        with_target=False,
    )
    assert out["fcst_rain"].null_count() == out.height


# layout -------------------------------------------------------------------------------


def test_horizons_are_stacked_with_ts_equal_to_origin_plus_horizon() -> None:
    city = tiny_city(3)
    origins = [T0 + timedelta(days=1, hours=h) for h in (3, 4)]
    out = build_features(task_tables(city, short_task(), live_until=max(origins)), origins)
    horizons = [timedelta(minutes=10), timedelta(hours=1), timedelta(hours=3), timedelta(hours=6)]
    assert out.height == 2 * len(origins) * len(horizons)
    assert out.columns[:4] == list(KEY_COLUMNS)
    assert (out["ts"] == out["origin"] + out["horizon"]).all()
    assert (out["horizon_min"] == out["horizon"].dt.total_minutes()).all()
    assert sorted(set(out["horizon"].to_list())) == horizons
    assert out.equals(out.sort("series_id", "origin", "horizon"))
    # y is the observed target at ts, and the origin's features repeat across horizons
    obs = city.observations.filter(pl.col("series_id") == "pond-1")
    depth = dict(zip(obs["ts"].to_list(), obs["value"].to_list(), strict=True))
    for row in out.filter(pl.col("series_id") == "pond-1").iter_rows(named=True):
        assert row["y"] == depth[row["ts"]]
        assert row["target_now"] == depth[row["origin"]]


def test_calendar_features_are_read_in_asia_shanghai_at_the_target_time() -> None:
    start = datetime(2025, 6, 30, tzinfo=UTC)
    tables = hand_city({m: 1.0 for m in range(0, 24 * 60, 10)}, start=start)
    origin = datetime(2025, 6, 30, 15, 50, tzinfo=UTC)  # 23:50 in Fuzhou
    out = build_features(
        task_tables(tables, short_task(), live_until=origin), [origin], with_target=False
    )
    shanghai = ZoneInfo("Asia/Shanghai")
    for row in out.iter_rows(named=True):
        local = row["ts"].astimezone(shanghai)
        assert (row["cal_hour"], row["cal_month"]) == (local.hour, local.month)
    first = at(out, origin)
    assert (first["cal_hour"], first["cal_month"]) == (0, 7)  # 16:00 UTC is July 1st, 00:00


def test_the_day_features_read_the_tasks_country_and_its_declared_days() -> None:
    # 2025-07-04 is a Friday: Independence Day in the US, a working day in China; a config's
    # declared day off (2025-07-03) counts wherever it is
    start = datetime(2025, 7, 2, tzinfo=UTC)
    tables = hand_city({m: 1.0 for m in range(0, 3 * 24 * 60, 10)}, start=start)
    origin = datetime(2025, 7, 4, 16, tzinfo=UTC)  # noon in New York, midnight in Fuzhou
    days = {"calendar": ["holiday", "workday"], "timezone": "America/New_York"}

    def flags(**features: object) -> tuple[int, int]:
        task = short_task(**days, **features)
        out = build_features(task_tables(tables, task, live_until=origin), [origin - STEP])
        row = at(out, origin - STEP, STEP)
        return row["cal_holiday"], row["cal_workday"]

    assert flags(country="US") == (1, 0)
    assert flags() == (0, 1)
    assert flags(country="US", extra_workdays=["2025-07-04"]) == (0, 1)


@pytest.mark.parametrize(
    "origin",
    [
        datetime(2025, 6, 2, 12, 5, tzinfo=UTC),
        datetime(2025, 6, 2, 12, 0, 30, tzinfo=UTC),
        datetime(2025, 6, 2, 12, 0, 0, 1, tzinfo=UTC),
    ],
)
def test_an_origin_off_the_grid_raises_a_data_error(origin: datetime) -> None:
    with pytest.raises(DataError, match="not on the task's 10m grid"):
        build_features(
            task_tables(tiny_city(3), short_task()),
            [datetime(2025, 6, 2, 12, tzinfo=UTC), origin],
        )


def test_no_origins_raise_a_data_error() -> None:
    with pytest.raises(DataError, match="no origins"):
        build_features(task_tables(tiny_city(3), short_task()), [])


@pytest.mark.parametrize(
    ("path", "key"),
    [
        (("horizon",), "horizon"),
        (("features", "fill_limt"), "features.fill_limt"),
        (("features", "observed", 0, "sumz"), "features.observed[0].sumz"),
        (("model", "familly"), "model.familly"),
        (("warning", "levels", 1, "colour"), "warning.levels[1].colour"),
    ],
)
def test_an_unknown_config_key_raises_a_config_error_naming_its_key_path(
    path: tuple, key: str
) -> None:
    raw = {
        "name": "t",
        "domain": "waterlogging",
        "target": {"signal": "ponding_cm"},
        "frequency": "10m",
        "horizons": ["1h"],
        "features": {"observed": [{"name": "r", "signal": "rain_mm", "link": "rain_gauge"}]},
        "model": {"family": "lightgbm"},
        "warning": {
            "levels": [{"level": "blue", "threshold": 5}, {"level": "red", "threshold": 20}]
        },
    }
    parse_task(raw)  # valid as written
    node = raw
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = "oops"
    with pytest.raises(ConfigError) as err:
        parse_task(raw, source="t.yaml")
    assert err.value.key == key
    assert str(err.value).startswith(f"{key}: unknown key")
    assert "t.yaml" in str(err.value)


def test_a_signal_the_product_does_not_know_aggregates_as_declared_or_is_refused() -> None:
    """A user's signal read on a coarser grid than its readings: refused with how to declare
    it, never binned by a guess; declared, it is binned as declared."""
    city = hand_city({m: 1.0 for m in range(0, 24 * 60, 10)})
    city = replace(
        city,
        series=city.series.with_columns(
            pl.when(pl.col("series_id") == "rain-1")
            .then(pl.lit("drizzle_mm"))
            .otherwise(pl.col("signal"))
            .alias("signal")
        ),
        observations=city.observations.with_columns(
            pl.when(pl.col("series_id") == "rain-1").then(0.5).otherwise(pl.col("value"))
            .alias("value")
        ),
    )  # fmt: skip

    def hourly(**features: object) -> TaskConfig:
        recipe = {
            "target_lags": ["1h"], "target_maxes": [], "target_changes": [],
            "fill_limit": "1h", "calendar": [],
            "observed": [{"name": "drizzle", "signal": "drizzle_mm", "link": "rain_gauge",
                          "sums": ["3h"]}],
        }  # fmt: skip
        return parse_task(
            {
                "name": "hourly", "domain": "waterlogging", "target": {"signal": "ponding_cm"},
                "frequency": "1h", "horizons": ["1h"], "features": {**recipe, **features},
                "model": {"family": "lightgbm"},
            }
        )  # fmt: skip

    origin = T0 + timedelta(hours=12)
    with pytest.raises(DataError) as err:
        build_features(task_tables(city, hourly(), live_until=origin), [origin])
    assert "'drizzle_mm'" in str(err.value) and "features.aggregation" in str(err.value)
    task = hourly(aggregation={"drizzle_mm": "sum"})
    assert task.features.aggregation_of("drizzle_mm") == "sum"
    assert task.features.aggregation_of("rain_mm") == "sum"  # known to the product
    out = build_features(task_tables(city, task, live_until=origin), [origin])
    assert at(out, origin, timedelta(hours=1))["drizzle_sum_3h"] == pytest.approx(3 * 6 * 0.5)
    with pytest.raises(ConfigError) as bad:
        hourly(aggregation={"drizzle_mm": "median"})
    assert "features.aggregation" in str(bad.value)
