"""Property: rows that were not known at an origin never change the features built for it.

Future observations, forecasts issued after the origin, events after it and late arrivals
(stamped before the origin but received after it) are appended to a tiny city; the features at
the origin must be byte-for-byte what they were before.
"""

from __future__ import annotations

import functools
import importlib.util
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from features import (
    KEY_COLUMNS,
    CityTables,
    ConfigError,
    FeatureSpec,
    TaskConfig,
    build_features,
    conform,
    load_task,
    parse_task,
    target_history,
    task_tables,
)
from models import SarimaxForecaster, build_forecaster

START = datetime(2025, 6, 1, tzinfo=UTC)
STEP = timedelta(minutes=10)
SERIES_IDS = ["pond-1", "pond-2", "rain-1", "rain-2", "river-1", "tide-minjiang"]
AREAS = ["gulou", "taijiang", "fuzhou"]
CATEGORIES = ["rainstorm_blue", "rainstorm_yellow", "rainstorm_orange", "rainstorm_red"]

SHORT_TASK = {
    "name": "waterlogging-short",
    "domain": "waterlogging",
    "target": {"signal": "ponding_cm"},
    "frequency": "10m",
    "horizons": ["10m", "1h", "2h"],
    "quantiles": [0.1, 0.5, 0.9],
    "features": {
        "target_lags": ["10m", "30m"],
        "target_maxes": ["1h"],
        "target_changes": ["30m"],
        "fill_limit": "20m",
        "season_ref": "1h",
        "observed": [
            {
                "name": "rain_gauge",
                "signal": "rain_mm",
                "link": "rain_gauge",
                "sums": ["10m", "30m", "1h"],
                "maxes": ["30m"],
            },
            {"name": "rain_area", "signal": "rain_mm", "link": "area", "sums": ["1h"]},
            {
                "name": "river",
                "signal": "water_level_m",
                "link": "river_gauge",
                "level": True,
                "changes": ["30m"],
                "relative_to_attr": "warning_level_m",
            },
            {"name": "tide", "signal": "tide_level_m", "link": "city", "level": True},
        ],
        "known_ahead": [
            {"name": "fcst_rain", "variable": "rain_mm", "aggregate": "sum"},
            {"name": "fcst_rain_rate", "variable": "rain_mm", "aggregate": "mean"},
            {"name": "fcst_tide", "variable": "tide_level_m", "aggregate": "at", "area": "fuzhou"},
        ],
        "calendar": ["hour", "weekday", "month", "doy"],
        "rainstorm_signal": True,
        "series_category": True,
    },
    "model": {"family": "lightgbm"},
}


@functools.cache
def _tiny_city(days: int) -> CityTables:
    path = Path(__file__).resolve().parents[1] / "conftest.py"
    spec = importlib.util.spec_from_file_location("_citybrain_root_conftest", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_tiny_city(days=days, seed=0)


@functools.cache
def _short_task() -> TaskConfig:
    return parse_task(SHORT_TASK)


@functools.cache
def _shipped_task() -> TaskConfig:
    return load_task("waterlogging")


def _features(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.drop("y", strict=False).sort(KEY_COLUMNS)


@st.composite
def unknown_at_origin(draw: st.DrawFn, days: int) -> dict:
    """An origin on the grid and rows that were not known there."""
    n = days * 144
    i = draw(st.integers(1, n - 2))
    origin = START + i * STEP
    after = st.integers(1, 3 * 24 * 3600).map(lambda s: origin + timedelta(seconds=s))
    values = st.floats(-10.0, 400.0) | st.sampled_from([float("nan"), float("inf")])
    future_obs = draw(
        st.lists(
            st.tuples(st.sampled_from([*SERIES_IDS, "ghost-1"]), after, values, st.booleans()),
            max_size=12,
            unique_by=lambda r: (r[0], r[1]),
        )
    )
    # late arrivals: stamped at or before the origin on keys the city does not hold (off the
    # 10-minute stamps, or on stamps removed from the city first), received after the origin
    back = st.integers(0, 2 * 24 * 3600).map(lambda s: origin - timedelta(seconds=s))
    late = draw(
        st.lists(
            st.tuples(st.sampled_from(SERIES_IDS), back, values, st.integers(1, 48 * 3600)),
            max_size=12,
            unique_by=lambda r: (r[0], r[1]),
        )
    )
    issued = draw(
        st.lists(
            st.tuples(
                st.integers(1, 24 * 3600).map(lambda s: origin + timedelta(seconds=s)),
                st.integers(-12, 72),
                st.sampled_from(AREAS),
                st.sampled_from(["rain_mm", "tide_level_m"]),
                st.floats(0.0, 80.0),
            ),
            max_size=10,
        )
    )
    events = draw(
        st.lists(
            st.tuples(
                after,
                st.sampled_from(CATEGORIES),
                st.sampled_from(["gulou", "taijiang"]),
                st.sampled_from(["issue", "lift"]),
            ),
            max_size=4,
        )
    )
    return {
        "origin": origin,
        "future_obs": future_obs,
        "late": late,
        "forecasts": issued,
        "events": events,
    }


def _with_unknown_rows(tables: CityTables, drawn: dict) -> tuple[CityTables, CityTables]:
    """(tables as known at the origin, tables with the unknown rows appended)."""
    origin = drawn["origin"]
    late_keys = pl.DataFrame(
        {"series_id": [r[0] for r in drawn["late"]], "ts": [r[1] for r in drawn["late"]]},
        schema={"series_id": pl.String, "ts": pl.Datetime("us", "UTC")},
    )
    known_obs = tables.observations.join(late_keys, on=["series_id", "ts"], how="anti")
    future = [(sid, ts, value, None) for sid, ts, value, _ in drawn["future_obs"]]
    future += [
        (sid, ts, value, origin + timedelta(seconds=delay))
        for sid, ts, value, delay in drawn["late"]
    ]
    extra_obs = conform(
        "observations",
        pl.DataFrame(
            future,
            schema={
                "series_id": pl.String,
                "ts": pl.Datetime("us", "UTC"),
                "value": pl.Float64,
                "received_at": pl.Datetime("us", "UTC"),
            },
            orient="row",
        ),
    )
    hour = timedelta(hours=1)
    fc = [
        (issued, issued + k * hour, area, variable, value)
        for issued, k, area, variable, value in drawn["forecasts"]
    ]
    extra_fc = conform(
        "weather_forecasts",
        pl.DataFrame(
            fc,
            schema={
                "issued_at": pl.Datetime("us", "UTC"),
                "valid_at": pl.Datetime("us", "UTC"),
                "area_id": pl.String,
                "variable": pl.String,
                "value": pl.Float64,
            },
            orient="row",
        ),
    )
    extra_events = conform(
        "events",
        pl.DataFrame(
            {
                "event_id": [f"future-{k}" for k in range(len(drawn["events"]))],
                "ts": [e[0] for e in drawn["events"]],
                "source": ["weather"] * len(drawn["events"]),
                "category": [e[1] for e in drawn["events"]],
                "area_id": [e[2] for e in drawn["events"]],
                "attrs": [json.dumps({"action": e[3]}) for e in drawn["events"]],
            },
            schema={
                "event_id": pl.String,
                "ts": pl.Datetime("us", "UTC"),
                "source": pl.String,
                "category": pl.String,
                "area_id": pl.String,
                "attrs": pl.String,
            },
        ),
    )
    known = tables.with_observations(known_obs)
    grown = CityTables(
        series=tables.series,
        observations=pl.concat([known_obs, extra_obs]).sort("series_id", "ts"),
        events=pl.concat([tables.events, extra_events]),
        weather_forecasts=pl.concat([tables.weather_forecasts, extra_fc]),
        areas=tables.areas,
    )
    return known, grown


def _check_unchanged(tables: CityTables, task: TaskConfig, drawn: dict) -> None:
    known, grown = _with_unknown_rows(tables, drawn)
    origin = drawn["origin"]
    before = build_features(task_tables(known, task, live_until=origin), [origin])
    after = build_features(task_tables(grown, task, live_until=origin), [origin], with_target=False)
    assert "y" not in after.columns
    assert_frame_equal(_features(after), _features(before), check_exact=True)


@settings(max_examples=25, deadline=None)
@given(drawn=unknown_at_origin(days=3))
def test_rows_unknown_at_the_origin_never_change_its_features(drawn: dict) -> None:
    _check_unchanged(_tiny_city(3), _short_task(), drawn)


@settings(max_examples=25, deadline=None)
@given(drawn=unknown_at_origin(days=4))
def test_rows_unknown_at_the_origin_never_change_the_shipped_waterlogging_features(
    drawn: dict,
) -> None:
    _check_unchanged(_tiny_city(4), _shipped_task(), drawn)


def test_a_forecast_issued_after_the_origin_is_never_used() -> None:
    tables = _tiny_city(3)
    task = _short_task()
    origin = datetime(2025, 6, 2, 7, 0, tzinfo=UTC)
    base = build_features(task_tables(tables, task, live_until=origin), [origin], with_target=False)
    # an issue one second after the origin saying it will pour everywhere
    issued = origin + timedelta(seconds=1)
    flood = conform(
        "weather_forecasts",
        pl.DataFrame(
            {
                "issued_at": [issued] * 18,
                "valid_at": [origin + timedelta(hours=h) for h in range(1, 7) for _ in AREAS],
                "area_id": AREAS * 6,
                "variable": ["rain_mm", "rain_mm", "tide_level_m"] * 6,
                "value": [500.0] * 18,
            }
        ),
    )
    grown = CityTables(
        series=tables.series,
        observations=tables.observations,
        events=tables.events,
        weather_forecasts=pl.concat([tables.weather_forecasts, flood]),
        areas=tables.areas,
    )
    after = build_features(task_tables(grown, task, live_until=origin), [origin], with_target=False)
    assert_frame_equal(after, base, check_exact=True)
    assert after["fcst_rain"].max() < 500.0
    # the same issue stamped exactly at the origin is used
    at_origin = grown.weather_forecasts.with_columns(
        pl.when(pl.col("issued_at") == issued)
        .then(pl.lit(origin))
        .otherwise(pl.col("issued_at"))
        .alias("issued_at")
    )
    used = build_features(
        task_tables(
            CityTables(
                series=tables.series,
                observations=tables.observations,
                events=tables.events,
                weather_forecasts=at_origin,
                areas=tables.areas,
            ),
            task,
            live_until=origin,
        ),
        [origin],
        with_target=False,
    )
    two_hours = used.filter(pl.col("horizon") == timedelta(hours=2))
    assert two_hours["fcst_rain"].to_list() == [1000.0, 1000.0]
    assert two_hours["fcst_tide"].to_list() == [500.0, 500.0]


def test_tables_until_the_origin_give_the_same_features_as_the_full_tables() -> None:
    tables = _tiny_city(4)
    for task in (_short_task(), _shipped_task()):
        for origin in (
            datetime(2025, 6, 2, 8, 0, tzinfo=UTC),
            datetime(2025, 6, 2, 12, 10, tzinfo=UTC),
            datetime(2025, 6, 4, 6, 0, tzinfo=UTC),
        ):
            full = build_features(
                task_tables(tables, task, live_until=origin), [origin], with_target=False
            )
            known = build_features(
                task_tables(tables.until(origin), task, live_until=origin),
                [origin],
                with_target=False,
            )
            assert_frame_equal(known, full, check_exact=True)


# --- the history a sequence model reads, with its covariates ---------------------------------

RAIN_SARIMAX = {
    "rain": "rain_gauge",
    "order": [1, 0, 0],
    "fourier": 0,
    "calendar": [],
    "fit_window": "2d",
    "filter_window": "6h",
    "n_jobs": 1,
}


@functools.cache
def _rain_sarimax() -> SarimaxForecaster:
    """SARIMAX with rain fitted on the tiny city's first two days, its rain burst among them
    (fixed: the drawn rows are appended to both sides of the comparison)."""
    tables, task = _tiny_city(3), _short_task()
    model = build_forecaster(
        task.model.model_copy(update={"family": "sarimax"}),
        task=task,
        spec=FeatureSpec(task=task.name, columns=()),
        overrides=RAIN_SARIMAX,
    )
    assert isinstance(model, SarimaxForecaster)
    fit_end = START + timedelta(days=2)
    origins = [START + timedelta(hours=h) for h in range(1, 46)]
    history = target_history(
        task_tables(tables, task, live_until=fit_end),
        START,
        fit_end,
        covariates=model.history_covariates,
    )
    return model.fit(
        build_features(task_tables(tables, task, live_until=max(origins)), origins),
        history.until(fit_end),
    )


@settings(max_examples=20, deadline=None)
@given(drawn=unknown_at_origin(days=3))
def test_rows_unknown_at_the_origin_never_change_the_history_or_a_rain_forecast(
    drawn: dict,
) -> None:
    """The target history and its rain, built to the origin from what was known there, equal
    the history built from everything (run on past the origin) cut at the origin, and SARIMAX
    with rain forecasts the same from either."""
    model, task = _rain_sarimax(), _short_task()
    known, grown = _with_unknown_rows(_tiny_city(3), drawn)
    origin = drawn["origin"]
    covariates = model.history_covariates
    then = target_history(
        task_tables(known, task, live_until=origin), START, origin, covariates=covariates
    )
    later = target_history(
        task_tables(grown, task, live_until=origin + timedelta(days=4)),
        START,
        origin + timedelta(days=4),
        covariates=covariates,
    )
    cut = later.until(origin + STEP)
    np.testing.assert_array_equal(cut.values, then.values)
    np.testing.assert_array_equal(cut.covariate("rain_gauge"), then.covariate("rain_gauge"))
    before = model.predict(
        build_features(task_tables(known, task, live_until=origin), [origin], with_target=False),
        then,
    )
    after = model.predict(
        build_features(task_tables(grown, task, live_until=origin), [origin], with_target=False),
        later,
    )
    assert_frame_equal(after, before, check_exact=True)


def test_the_history_carries_each_targets_linked_gauge() -> None:
    tables, task = _tiny_city(3), _short_task()
    end = START + timedelta(days=3)
    history = target_history(
        task_tables(tables, task, live_until=end), START, end, covariates=["rain_gauge", "river"]
    )
    rain = history.covariate("rain_gauge")
    assert rain.shape == history.values.shape
    assert sorted(history.covariates) == ["rain_gauge", "river"]
    gauges = tables.series.filter(pl.col("series_id").is_in(list(history.series_ids)))
    for i, sid in enumerate(history.series_ids):
        gauge = json.loads(gauges.filter(pl.col("series_id") == sid)["attrs"][0])["rain_gauge"]
        readings = tables.observations.filter(pl.col("series_id") == gauge)
        total = float(np.nansum(rain[i]))
        assert total == pytest.approx(readings["value"].sum()) and total > 0
    with pytest.raises(ConfigError, match=r"no observed covariate named \['rainfall'\]"):
        target_history(
            task_tables(tables, task, live_until=end), START, end, covariates=["rainfall"]
        )
