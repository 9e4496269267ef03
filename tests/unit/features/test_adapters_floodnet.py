"""FloodNet adapter: flood events rebuilt into depth series, dry time written as 0 cm."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from features.adapters import AdapterOptions, adapt, ingest_tables
from features.errors import DataError
from features.store import Store

HEADER = [
    "sensor_name",
    "sensor_id",
    "flood_start_time",
    "flood_end_time",
    "max_depth_inches",
    "flood_profile_depth_inches",
    "flood_profile_time_secs",
]


def write(folder: Path, floods: list[list[str]], meta: bool = True) -> Path:
    folder.mkdir(exist_ok=True)
    with (folder / "flood-events.csv").open("w", newline="") as f:
        w = csv.writer(f, quoting=csv.QUOTE_ALL)
        w.writerow(HEADER)
        w.writerows(floods)
    if meta:
        (folder / "sensor-metadata.csv").write_text(
            '"sensor_name","sensor_id","date_installed","tidally_influenced","date_removed",'
            '"borough","latitude","longitude"\n'
            '"Q - A St","q-a","2024-03-10T00:00:00.000","Yes",,"Queens","40.58","-73.81"\n'
            '"Q - B St","q-b","2024-03-09T00:00:00.000","No","2024-03-11T00:00:00.000",'
            '"Queens","40.60","-73.80"\n'
        )
    return folder


FLOODS = [
    # 02:21 on 2024-03-10 does not exist in New York: the times are GMT, as the dictionary says
    ["Q - A St", "q-a", "2024-03-10T02:21:00.000", "2024-03-10T02:41:00.000", "5.0",
     "[0.00, 2.00, 5.00, 1.00]", "[0, 300, 600, 900]"],
    ["Q - A St", "q-a", "2024-03-10T08:00:00.000", "2024-03-10T08:30:00.000", "1.0",
     "[0.50, 1.00]", "[0, 600]"],
    ["Q - B St", "q-b", "2024-03-10T05:00:00.000", "2024-03-10T05:20:00.000", "12.0",
     "[12.00]", "[60]"],
]  # fmt: skip


def test_floods_become_depth_series_with_dry_time_as_zero(tmp_path: Path) -> None:
    options = AdapterOptions()
    tables = adapt("floodnet", [write(tmp_path / "fn", FLOODS)], options)
    obs = tables["observations"].sort("series_id", "ts")
    a = obs.filter(pl.col("series_id") == "floodnet-q-a")
    t0 = datetime(2024, 3, 10, 2, 21, tzinfo=UTC)
    profile = a.filter((pl.col("ts") >= t0) & (pl.col("ts") <= t0 + timedelta(minutes=20)))
    # the profile (0, 2, 5, 1 inches, 5 minutes apart) in cm, then 0 cm at its end
    assert profile["value"].to_list() == pytest.approx([0.0, 2 * 2.54, 5 * 2.54, 2.54, 0.0])
    # dry time between floods is 0 cm every 10 minutes, none inside a flood
    between = a.filter(
        (pl.col("ts") > t0 + timedelta(minutes=20)) & (pl.col("ts") < t0.replace(hour=8, minute=0))
    )
    assert (between["value"] == 0.0).all()
    assert between["ts"].diff().drop_nulls().max() <= timedelta(minutes=10)
    # from the installation (midnight) to the last flood's end
    assert a["ts"].min() == datetime(2024, 3, 10, tzinfo=UTC)
    assert a["ts"].max() == datetime(2024, 3, 10, 8, 30, tzinfo=UTC)
    series = tables["series"].sort("series_id")
    assert series["series_id"].to_list() == ["floodnet-q-a", "floodnet-q-b"]
    assert set(series["signal"]) == {"ponding_cm"} and set(series["area_id"]) == {"nyc-queens"}
    assert any("rebuilt the 2 sensors with the most floods of 2" in n for n in options.notes)
    store = Store(tmp_path / "data")
    report = ingest_tables(store, tables, source="floodnet")
    assert report.merges["observations"].inserted == obs.height


def test_a_profile_whose_lists_disagree_is_refused_at_its_row(tmp_path: Path) -> None:
    bad = [*FLOODS[:1], [*FLOODS[1][:6], "[0, 600, 900]"]]
    with pytest.raises(DataError, match="has 2 depths for 3 times") as err:
        adapt("floodnet", [write(tmp_path / "fn", bad)], AdapterOptions())
    assert "flood-events.csv" in str(err.value) and "row 2" in str(err.value)


def test_a_flood_that_ends_before_it_starts_is_refused(tmp_path: Path) -> None:
    bad = [[*FLOODS[0][:3], "2024-03-10T01:00:00.000", *FLOODS[0][4:]]]
    with pytest.raises(DataError, match="ends before it starts"):
        adapt("floodnet", [write(tmp_path / "fn", bad, meta=False)], AdapterOptions())
