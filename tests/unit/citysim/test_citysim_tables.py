from __future__ import annotations

import datetime as dt
import json

import polars as pl

import citysim
from features import KEYS, SCHEMAS, SIGNALS, TABLES


def test_simulate_returns_the_five_canonical_tables_in_their_schemas(city):
    assert set(city) == set(TABLES)
    for name, frame in city.items():
        assert dict(frame.schema) == SCHEMAS[name], name
        assert frame.height > 0, name


def test_every_observation_series_is_in_the_catalog_and_keys_are_unique(city):
    catalog = set(city["series"]["series_id"])
    assert set(city["observations"]["series_id"].unique()) <= catalog
    for name in TABLES:
        frame = city[name]
        assert frame.select(KEYS[name]).is_duplicated().sum() == 0, name


def test_observations_are_sorted_by_series_and_time(city):
    obs = city["observations"]
    assert obs.equals(obs.sort("series_id", "ts"))


def test_timestamps_are_utc_aware(city):
    for name, frame in city.items():
        for col, dtype in frame.schema.items():
            if isinstance(dtype, pl.Datetime):
                assert dtype.time_zone == "UTC", (name, col)


def test_values_stay_inside_each_signals_physical_range(obs):
    for signal, spec in SIGNALS.items():
        values = obs.filter(pl.col("signal") == signal)["value"]
        if values.len():
            assert spec.low <= values.min() and values.max() <= spec.high, signal


def test_rain_is_never_negative(obs):
    assert obs.filter(pl.col("signal") == "rain_mm")["value"].min() >= 0


def test_ponding_is_never_negative(obs):
    assert obs.filter(pl.col("signal") == "ponding_cm")["value"].min() >= 0


def test_catalog_has_the_promised_sensors_and_attributes(city):
    series = city["series"]
    counts = dict(series.group_by("signal").len().iter_rows())
    assert counts["rain_mm"] >= 30 and counts["water_level_m"] >= 20
    assert counts["ponding_cm"] >= 40 and counts["speed_kmh"] >= 60
    assert counts["tide_level_m"] == 1 and "tide-minjiang" in series["series_id"].to_list()
    ids = set(series["series_id"])
    for row in series.iter_rows(named=True):
        attrs = json.loads(row["attrs"])
        if row["signal"] == "ponding_cm":
            assert attrs["rain_gauge"] in ids and attrs["river_gauge"] in ids
            assert isinstance(attrs["underpass"], bool) and attrs["drain_capacity_mm_h"] > 0
        if row["signal"] == "speed_kmh":
            assert attrs["free_flow_kmh"] > 0 and set(attrs["neighbours"]) <= ids
        if row["signal"] == "water_level_m":
            assert set(attrs["upstream"]) <= ids and attrs["warning_level_m"] > 0


def test_every_series_lies_inside_its_district(city):
    boxes = {
        r["area_id"]: json.loads(r["geometry"])["coordinates"][0]
        for r in city["areas"].iter_rows(named=True)
    }
    for row in city["series"].iter_rows(named=True):
        ring = boxes[row["area_id"]]
        lons, lats = [p[0] for p in ring], [p[1] for p in ring]
        assert min(lons) <= row["lon"] <= max(lons) and min(lats) <= row["lat"] <= max(lats)


def test_late_arrivals_carry_a_received_at_after_ts(city):
    obs = city["observations"]
    late = obs.filter(pl.col("received_at").is_not_null())
    assert 0 < late.height < obs.height * 0.2
    assert (late["received_at"] - late["ts"]).min() >= dt.timedelta(minutes=10)


def test_same_seed_gives_identical_tables_and_different_seeds_differ():
    a = citysim.simulate(days=2, seed=3)
    b = citysim.simulate(days=2, seed=3)
    c = citysim.simulate(days=2, seed=4)
    for name in TABLES:
        assert a[name].equals(b[name]), name
    assert not a["observations"].equals(c["observations"])


def test_same_seed_writes_byte_identical_files(tmp_path):
    for folder in ("a", "b"):
        citysim.write_city(tmp_path / folder, citysim.simulate(days=2, seed=5))
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.parquet"))
    assert len(files) >= len(TABLES)
    for name in files:
        first = (tmp_path / "a" / name).read_bytes()
        assert first == (tmp_path / "b" / name).read_bytes(), name
    feed = (tmp_path / "a" / "feed" / "observations-feed.csv").read_bytes()
    assert feed == (tmp_path / "b" / "feed" / "observations-feed.csv").read_bytes()


def test_feed_sample_repeats_rows_and_uses_local_offsets(tmp_path, city):
    citysim.write_city(tmp_path, city)
    feed = pl.read_csv(tmp_path / "feed" / "observations-feed.csv", infer_schema=False)
    assert feed.columns == ["series_id", "ts", "value", "received_at"]
    assert feed["ts"].str.ends_with("+08:00").all()
    assert feed.select("series_id", "ts").is_duplicated().any()
