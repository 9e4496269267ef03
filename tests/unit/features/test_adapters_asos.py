"""ASOS hourly weather adapter (nycflights13 layout): rain and temperature per airport."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from features.adapters import AdapterOptions, adapt, ingest_tables
from features.cli import ingest
from features.errors import DataError
from features.store import Store

RAW = "nyc-weather-hourly-2013/weather.csv"


def real_slice(shared: Path, tmp: Path) -> Path:
    """The first 48 rows of each airport and the EWR row with a missing temperature."""
    lines = (shared / RAW).read_text().splitlines()
    header, rows = lines[0], lines[1:]
    kept = []
    for station in ("EWR", "JFK", "LGA"):
        kept += [r for r in rows if r.startswith(f"{station},")][:48]
    kept += [r for r in rows if r.startswith("EWR,") and r.split(",")[5] == "NA"]
    out = tmp / "weather"
    out.mkdir()
    (out / "weather.csv").write_text("\n".join([header, *kept]) + "\n")
    return out


@pytest.mark.realdata
def test_real_slice_units_times_and_areas(shared_data, tmp_path):
    folder = real_slice(shared_data, tmp_path)
    options = AdapterOptions()
    store = Store(tmp_path / "data")
    ingest_tables(store, adapt("asos", [folder], options), source="asos")
    obs = store.read("observations")
    raw = pl.read_csv(folder / "weather.csv", infer_schema=False, null_values="NA")
    first = raw.row(0, named=True)
    assert first["time_hour"] == "2013-01-01T06:00:00Z"
    at = datetime(2013, 1, 1, 6, tzinfo=UTC)
    temp = obs.filter((pl.col("series_id") == "asos-ewr-temperature") & (pl.col("ts") == at))
    assert temp["value"][0] == pytest.approx((float(first["temp"]) - 32) * 5 / 9)
    rain = obs.filter(pl.col("series_id") == "asos-ewr-rain")
    assert rain.height == 49
    wet = raw.filter(pl.col("precip").cast(pl.Float64) > 0).row(0, named=True)
    stamp = datetime.fromisoformat(wet["time_hour"].replace("Z", "+00:00"))
    sid = f"asos-{wet['origin'].lower()}-rain"
    value = obs.filter((pl.col("series_id") == sid) & (pl.col("ts") == stamp))["value"][0]
    assert value == pytest.approx(float(wet["precip"]) * 25.4)
    # the NA temperature is dropped, not stored
    assert obs.filter(pl.col("series_id") == "asos-ewr-temperature").height == 48
    assert "1 missing (NA or blank) dropped" in "\n".join(options.notes)
    series = store.read("series")
    assert set(series["area_id"]) == {"nyc"}
    assert series.height == 6
    assert store.read("areas")["area_id"].to_list() == ["nyc"]


@pytest.mark.realdata
def test_cli_ingest_is_idempotent(shared_data, tmp_path):
    folder = real_slice(shared_data, tmp_path)
    args = ["--data", str(tmp_path / "data"), "--format", "asos", "--json", str(folder)]
    assert CliRunner().invoke(ingest, args).exit_code == 0
    second = CliRunner().invoke(ingest, args)
    assert second.exit_code == 0, second.output
    assert '"inserted": 0' in second.output


def test_naive_times_need_a_zone(tmp_path):
    path = tmp_path / "weather.csv"
    path.write_text("origin,temp,precip,time_hour\nXYZ,50,0.1,2013-01-01 06:00:00\n")
    with pytest.raises(DataError) as err:
        adapt("asos", [path])
    assert err.value.row == 1 and err.value.column == "time_hour"
    options = AdapterOptions(tz="America/New_York")
    tables = adapt("asos", [path], options)
    assert tables["observations"]["ts"].unique().to_list() == [datetime(2013, 1, 1, 11, tzinfo=UTC)]
    assert tables["series"]["area_id"].unique().to_list() == ["asos-xyz"]
    assert any("station XYZ is not known" in n for n in options.notes)


def test_a_bad_number_names_row_and_column(tmp_path):
    path = tmp_path / "weather.csv"
    path.write_text(
        "origin,precip,time_hour\nJFK,0,2013-01-01T06:00:00Z\nJFK,x,2013-01-01T07:00:00Z\n"
    )
    with pytest.raises(DataError) as err:
        adapt("asos", [path])
    assert (err.value.row, err.value.column) == (2, "precip")
