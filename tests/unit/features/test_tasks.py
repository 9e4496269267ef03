"""The task config parsed once: durations typed at load, read back as written; a task's tables
derived once, and the derivation carried through time filters."""

from __future__ import annotations

import copy
import json
import pickle
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

import citysim
from features.durations import Duration, format_duration, parse_duration
from features.errors import ConfigError, DataError
from features.feature_spec import task_hash
from features.grid import floor_to_grid
from features.tables import CityTables
from features.task_tables import LATEST, TaskTables, data_clock, data_span, task_tables
from features.tasks import TaskConfig, load_task, parse_task, shipped_tasks_dir

SHIPPED = sorted(p.stem for p in shipped_tasks_dir().glob("*.yaml"))


def _raw(name: str) -> dict:
    return yaml.safe_load((shipped_tasks_dir() / f"{name}.yaml").read_text(encoding="utf-8"))


def test_a_duration_is_a_timedelta_that_prints_as_written() -> None:
    written = Duration("60m")
    assert isinstance(written, timedelta)
    assert written == timedelta(hours=1) == Duration("1h")
    assert str(written) == f"{written}" == "60m"
    assert written * 2 == timedelta(hours=2) and written // timedelta(minutes=10) == 6
    assert repr(written) == "Duration('60m')"


@given(st.integers(min_value=0, max_value=10**6), st.sampled_from("smhdw"))
def test_a_duration_survives_pickle_copy_and_reparse(n: int, unit: str) -> None:
    d = Duration(f"{n}{unit}")
    for again in (pickle.loads(pickle.dumps(d)), copy.deepcopy(d), Duration(str(d))):
        assert again == d and str(again) == str(d) and isinstance(again, Duration)
    assert parse_duration(format_duration(d)) == d


@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_config_dumps_as_it_was_written(name: str) -> None:
    raw = _raw(name)
    task = parse_task(raw)
    dumped = task.model_dump(mode="json")
    assert dumped["frequency"] == raw["frequency"]
    assert dumped["horizons"] == raw["horizons"]
    assert dumped["features"]["target_lags"] == raw["features"]["target_lags"]
    again = parse_task(json.loads(json.dumps(dumped)))
    assert again == task and task_hash(again) == task_hash(task)


def test_durations_are_typed_at_load_everywhere_in_the_config() -> None:
    task = load_task("waterlogging")
    for value in (
        task.frequency,
        *task.horizons,
        task.features.fill_limit,
        *task.features.target_lags,
        *task.features.observed[0].sums,
        task.train.origin_stride,
        task.train.history,
        task.backtest.fold_length,
        task.backtest.min_train,
        task.calibration.holdout,
    ):
        assert isinstance(value, Duration)
    assert task.step == timedelta(minutes=10) and task.max_horizon == timedelta(hours=6)


def test_a_feature_name_keeps_the_written_duration() -> None:
    raw = _raw("waterlogging")
    raw["features"]["target_maxes"] = ["60m"]
    task = parse_task(raw)
    assert str(task.features.target_maxes[0]) == "60m"
    assert task.model_dump(mode="json")["features"]["target_maxes"] == ["60m"]


@pytest.mark.parametrize(
    ("path", "value", "key"),
    [
        (("horizons",), ["1h", "2x"], "horizons[1]"),
        (("frequency",), "ten minutes", "frequency"),
        (("frequency",), "0m", "frequency"),
        (("features", "fill_limit"), "30", "features.fill_limit"),
        (("backtest", "fold_length"), True, "backtest.fold_length"),
    ],
)
def test_a_bad_duration_names_its_key_path(path: tuple[str, ...], value: object, key: str) -> None:
    raw = _raw("waterlogging")
    node = raw
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    with pytest.raises(ConfigError) as err:
        parse_task(raw, source="waterlogging.yaml")
    assert err.value.key == key
    assert str(err.value).startswith(f"{key}: ") and "waterlogging.yaml" in str(err.value)


def test_a_config_pickled_with_durations_as_text_loads_typed() -> None:
    """Champions registered before durations were typed pickled their configs with strings."""
    task = load_task("hotline")
    state = task.__getstate__()
    old = {**state["__dict__"], "frequency": "1h", "horizons": ("1h", "24h")}
    loaded = TaskConfig.__new__(TaskConfig)
    loaded.__setstate__({**state, "__dict__": old})
    assert isinstance(loaded.frequency, Duration) and loaded.step == timedelta(hours=1)
    assert loaded.horizons == (Duration("1h"), Duration("24h"))


START = datetime(2025, 7, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture(scope="module")
def city() -> CityTables:
    return CityTables(**citysim.simulate(days=4, seed=5, start=START.date()))


def test_a_task_counts_its_event_series_once_and_keeps_them_through_time_filters(
    city: CityTables,
) -> None:
    task = load_task("hotline")
    assert "hotline_count" not in city.series["signal"].to_list()
    tables = task_tables(city, task)
    assert isinstance(tables, TaskTables) and tables.task == task
    assert tables.targets.height == 72
    assert (tables.series["signal"] == "hotline_count").sum() == 72
    assert task_tables(tables, task) is tables  # derived once: asking again derives nothing
    later = tables.until(START + timedelta(days=2))
    assert isinstance(later, TaskTables) and later.targets.equals(tables.targets)


def test_the_feeds_are_live_up_to_the_latest_target_time(city: CityTables) -> None:
    """Serving's reading: a covariate's count bins after its source's last event are zeros
    up to the origin (the feed is live), where the backtest's history leaves them unknown."""
    task = load_task("hotline")
    outages = city.events.filter(pl.col("source") == "utility")
    last_outage = outages["ts"].max()
    quiet = replace(  # the same city, its outage feed quiet after the first day
        city,
        events=city.events.filter(
            (pl.col("source") != "utility") | (pl.col("ts") <= START + timedelta(days=1))
        ),
    )
    assert last_outage is not None and outages.height > 0

    def outage_counts(tables: TaskTables) -> pl.DataFrame:
        series = tables.series.filter(pl.col("signal") == "events_outages")
        return tables.observations.join(series, on="series_id", how="semi")

    live = task_tables(quiet, task, live_until=LATEST)
    history = task_tables(quiet, task)
    origin = data_span(live)[1]
    # live, the hour still filling at the data's last minutes is left out; the history
    # counts it (a backtest's last bin)
    assert origin == floor_to_grid(data_clock(quiet), HOUR) == data_span(history)[1] - HOUR
    assert outage_counts(live)["ts"].max() == origin
    assert outage_counts(history)["ts"].max() <= START + timedelta(days=1, hours=1)
    tail = outage_counts(live).filter(pl.col("ts") > START + timedelta(days=1, hours=1))
    assert tail.height > 0 and (tail["value"] == 0).all()


def test_an_hour_still_filling_is_not_counted_as_an_hour(city: CityTables) -> None:
    """At 08:10 the hour to 09:00 holds ten minutes of calls: live, the latest count is the
    complete hour to 08:00, however many calls the last ten minutes brought."""
    task = load_task("hotline")
    clock = START + timedelta(days=2, hours=8, minutes=10)
    now = replace(
        city,
        observations=city.observations.filter(pl.col("ts") <= clock),
        events=city.events.filter(pl.col("ts") <= clock),
    )
    live = task_tables(now, task, live_until=LATEST)
    counts = live.observations.join(live.targets, on="series_id", how="semi")
    assert data_span(live)[1] == counts["ts"].max() == clock - timedelta(minutes=10)
    last_hour = counts.filter(pl.col("ts") == clock - timedelta(minutes=10))
    assert (
        last_hour["value"].sum()
        == now.events.filter(
            (pl.col("source") == "hotline")
            & (pl.col("ts") > clock - timedelta(minutes=70))
            & (pl.col("ts") <= clock - timedelta(minutes=10))
        ).height
    )


def test_a_task_without_target_observations_is_a_data_error(city: CityTables) -> None:
    task = load_task("waterlogging")
    empty = city.with_observations(city.observations.clear())
    with pytest.raises(DataError, match="no observations of the task's target signal"):
        task_tables(empty, task, live_until=LATEST)
    with pytest.raises(DataError, match="no observations"):
        data_span(task_tables(empty, task))


def test_the_data_span_counts_from_steady_data_not_a_stray_early_reading(
    city: CityTables, caplog: pytest.LogCaptureFixture
) -> None:
    """One reading eight days before the rest once let fold planning count a week of training
    that did not exist; the span starts where readings come steadily, and says so."""
    task = load_task("waterlogging")
    steady = data_span(task_tables(city, task))
    sensor = city.observations.filter(pl.col("series_id").str.starts_with("pond"))["series_id"][0]
    early = START - timedelta(days=8)
    stray = pl.DataFrame(
        {"series_id": [sensor], "ts": [early], "value": [0.0], "received_at": [early]},
        schema=city.observations.schema,
    )
    with_stray = city.with_observations(pl.concat([stray, city.observations]))
    with caplog.at_level("WARNING"):
        assert data_span(task_tables(with_stray, task)) == steady
    assert "stand apart from the data" in caplog.text


def test_every_task_calibrates_unless_its_config_says_not_on_a_fold_long_holdout() -> None:
    raw = _raw("rivers")
    raw.pop("calibration", None)
    raw["backtest"] = {**raw.get("backtest", {}), "fold_length": "5d"}
    task = parse_task(raw)
    assert (task.calibration.method, task.calibration.holdout) == ("scale", timedelta(days=5))
    assert parse_task({**raw, "calibration": {"method": "none"}}).calibration.method == "none"
    quiet = {k: v for k, v in raw.items() if k != "warning"}
    assert parse_task(quiet).calibration.method == "scale"  # a task that does not warn too
    given = parse_task({**raw, "calibration": {"holdout": "2d"}}).calibration
    assert (given.method, given.holdout) == ("scale", timedelta(days=2))
    # what was parsed is what reloads: the dump carries the choice
    again = parse_task(task.model_dump(mode="json"))
    assert again.calibration == task.calibration


def test_lead_horizons_default_to_1_3_6_hours_and_the_longest() -> None:
    task = load_task("rivers")
    assert [h // HOUR for h in task.lead_horizons] == [1, 3, 6, 12]
    raw = _raw("rivers")
    raw["warning"]["skill_horizons"] = ["2h"]
    assert parse_task(raw).lead_horizons == [2 * HOUR]
    raw["warning"]["skill_horizons"] = ["13h"]
    with pytest.raises(ConfigError, match="skill_horizons: 13h is outside"):
        parse_task(raw)
