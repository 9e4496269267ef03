"""Metro Interstate Traffic Volume adapter (I-94): repeated hours, 0 K, a 9,831 mm rain, gaps."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from features.adapters import AdapterOptions, adapt, ingest_tables
from features.cli import ingest
from features.errors import DataError
from features.store import Store

RAW = "i94-traffic-raw/Metro_Interstate_Traffic_Volume_to_2016-09-30.csv"
HEADER = (
    "holiday,temp,rain_1h,snow_1h,clouds_all,weather_main,weather_description,date_time,"
    "traffic_volume"
)
# raw data lines (1-based, header not counted) holding each trap of the real file
SLICES = {
    "first week, Columbus Day, a repeated hour (2012-10-10 07:00)": (1, 200),
    "0 K temperatures (2014-01-31 03:00-06:00 and 2014-02-02)": (11890, 11940),
    "rain_1h 9831.3 (2016-07-11 17:00)": (24860, 24880),
}


def real_slice(shared: Path, tmp: Path) -> tuple[Path, list[str]]:
    """The real file's header and the data lines of ``SLICES``, read now, written to tmp."""
    lines = (shared / RAW).read_text().splitlines()
    assert lines[0] == HEADER
    kept = [line for a, b in SLICES.values() for line in lines[a : b + 1]]
    path = tmp / "Metro_Interstate_Traffic_Volume_slice.csv"
    path.write_text("\n".join([HEADER, *kept]) + "\n")
    return path, kept


@pytest.mark.realdata
def test_real_slice_masks_the_known_faults_by_stated_rules(shared_data, tmp_path):
    path, kept = real_slice(shared_data, tmp_path)
    options = AdapterOptions()
    tables = adapt("metro-traffic", [path], options)
    notes = "\n".join(options.notes)
    zero_k = [i + 1 for i, line in enumerate(kept) if line.split(",")[1] == "0.0"]
    assert zero_k, "the slice should hold 0 K temperatures"
    assert f"temp 0 K is the source's missing marker: {len(zero_k)} values dropped" in notes
    flood = next(i + 1 for i, line in enumerate(kept) if ",9831.3," in line)
    assert "1 rain_1h values outside the range of rain_mm (0 to 200)" in notes
    assert f"row {flood} (9831.3)" in notes
    assert "hours repeated (one row per weather condition" in notes

    store = Store(tmp_path / "data")
    ingest_tables(store, tables, source="metro-traffic")
    obs = store.read("observations")
    per_hour = obs.group_by("series_id", "ts").len()
    assert per_hour["len"].max() == 1  # repeated hours merged into one observation
    volume = obs.filter(pl.col("series_id") == "i94-wb-volume")
    # 2012-10-10 07:00 CDT = 12:00 UTC, two copies in the raw file, one volume
    hour = volume.filter(pl.col("ts") == datetime(2012, 10, 10, 12, tzinfo=UTC))
    assert hour["value"].to_list() == [6793.0]
    temps = obs.filter(pl.col("series_id") == "i94-wb-temperature")["value"]
    assert temps.min() > -60  # no 0 K (-273 C) left
    first = kept[0].split(",")
    first_temp = obs.filter(
        (pl.col("series_id") == "i94-wb-temperature")
        & (pl.col("ts") == datetime(2012, 10, 2, 14, tzinfo=UTC))  # 09:00 CDT
    )["value"][0]
    assert first_temp == pytest.approx(float(first[1]) - 273.15)
    rain = obs.filter(pl.col("series_id") == "i94-wb-rain")["value"]
    assert rain.max() < 200
    series = {r["series_id"]: r for r in store.read("series").iter_rows(named=True)}
    assert series["i94-wb-volume"]["signal"] == "flow_vph"
    assert json.loads(series["i94-wb-rain"]["attrs"])["source_column"] == "rain_1h"
    holidays = store.read("events").filter(pl.col("source") == "holiday")
    assert holidays["category"].to_list() == ["columbus_day"]
    # the holiday is stamped at the local midnight that starts it (CDT, UTC-5)
    assert holidays["ts"][0] == datetime(2012, 10, 8, 5, tzinfo=UTC)


@pytest.mark.realdata
def test_cli_ingest_prints_what_the_adapter_dropped(shared_data, tmp_path):
    path, _ = real_slice(shared_data, tmp_path)
    args = ["--data", str(tmp_path / "data"), "--format", "metro-traffic", str(path)]
    result = CliRunner().invoke(ingest, args)
    assert result.exit_code == 0, result.output
    assert "0 K is the source's missing marker" in result.output
    assert "9831.3" in result.output


def test_repeated_hour_with_another_volume_is_refused(tmp_path):
    path = tmp_path / "traffic.csv"
    path.write_text(
        "date_time,traffic_volume,temp,rain_1h\n"
        "2016-01-01 00:00:00,100,270.0,0\n"
        "2016-01-01 01:00:00,120,271.0,0\n"
        "2016-01-01 01:00:00,121,271.0,0\n"
    )
    with pytest.raises(DataError) as err:
        adapt("metro-traffic", [path])
    assert err.value.row == 3 and err.value.column == "traffic_volume"
    assert "must agree" in str(err.value)


def test_copies_average_their_weather_and_gaps_stay_missing(tmp_path):
    path = tmp_path / "traffic.csv"
    path.write_text(
        "date_time,traffic_volume,temp,rain_1h\n"
        "2016-01-01 00:00:00,100,270.0,0\n"
        "2016-01-01 00:00:00,100,272.0,1.0\n"
        "2016-01-01 03:00:00,90,0.0,0\n"
    )
    options = AdapterOptions(tz="UTC")
    tables = adapt("metro-traffic", [path], options)
    obs = tables["observations"].sort("series_id", "ts")
    temp = obs.filter(pl.col("series_id") == "i94-wb-temperature")
    assert temp["value"].to_list() == [pytest.approx(271.0 - 273.15)]  # the 0 K row is gone
    rain = obs.filter(pl.col("series_id") == "i94-wb-rain")["value"].to_list()
    assert rain == [0.5, 0.0]
    volume = obs.filter(pl.col("series_id") == "i94-wb-volume")["ts"].to_list()
    assert volume == [datetime(2016, 1, 1, 0, tzinfo=UTC), datetime(2016, 1, 1, 3, tzinfo=UTC)]
    notes = "\n".join(options.notes)
    assert "2 hours missing, left missing" in notes
    assert "copies differed: rain_1h in 1, temp in 1 hours" in notes
