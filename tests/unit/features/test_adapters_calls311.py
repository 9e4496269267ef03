"""Hotline/311 adapter: LA MyLA311 and NYC Council records -> events and areas, via the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from click.testing import CliRunner

from features.adapters import AdapterOptions, adapt, ingest_tables
from features.cli import ingest
from features.errors import DataError
from features.store import Store

LA_2017 = "MyLA311_2017-12-27_to_31_subset.csv"
LA_2020 = "la311_requests_2020-01-01_to_03.csv"
NYC = "nycomplaints_records.parquet"


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def real_slice(shared: Path, tmp: Path, rows: int = 300) -> Path:
    out = tmp / "calls"
    out.mkdir()
    for name in (LA_2017, LA_2020):
        text = (shared / "la311-sample" / name).read_text().splitlines()[: rows + 1]
        (out / name).write_text("\n".join(text) + "\n")
    pl.scan_parquet(shared / "nyc-council-complaints" / NYC).head(rows).sink_parquet(out / NYC)
    return out


@pytest.mark.realdata
def test_real_slice_events_areas_and_times(shared_data, tmp_path):
    folder = real_slice(shared_data, tmp_path)
    store = Store(tmp_path / "data")
    report = ingest_tables(store, adapt("calls311", [folder]), source="calls311")
    assert report.merges["events"].inserted >= 899  # NYC may repeat a case
    events = store.read("events")
    assert events.schema["ts"] == pl.Datetime("us", "UTC")
    assert set(events["source"]) == {"hotline"}
    raw = pl.read_csv(folder / LA_2017, infer_schema=False).row(0, named=True)
    assert raw["CreatedDate"] == "12/31/2017 11:59:58 PM"
    la = events.filter(pl.col("event_id") == f"la311:{raw['SRNumber']}").row(0, named=True)
    assert la["ts"] == datetime(2018, 1, 1, 7, 59, 58, tzinfo=UTC)  # PST + 8 h
    assert la["category"] == "homeless_encampment"
    assert la["area_id"] == f"la-cd-{raw['CD']}"
    assert la["lat"] == pytest.approx(float(raw["Latitude"]))
    assert json.loads(la["attrs"])["type"] == "Homeless Encampment"
    new = pl.read_csv(folder / LA_2020, infer_schema=False).row(0, named=True)
    la2 = events.filter(pl.col("event_id") == f"la311:{new['srnumber']}").row(0, named=True)
    assert new["createddate"] == "1/1/20 0:05"
    assert la2["ts"] == datetime(2020, 1, 1, 8, 5, tzinfo=UTC)
    nyc_raw = pl.read_parquet(folder / NYC).row(0, named=True)
    nyc = events.filter(pl.col("event_id") == f"nyc-council:{nyc_raw['unique_key']}").row(
        0, named=True
    )
    day = nyc_raw["opendate"]
    assert (day.hour, day.minute) == (0, 0)  # a date only
    end_of_day = (day + timedelta(days=1)).replace(tzinfo=ZoneInfo("America/New_York"))
    assert nyc["ts"] == end_of_day.astimezone(UTC)
    assert nyc["area_id"] == "nyc-" + nyc_raw["borough"].lower().replace(" ", "-")
    assert json.loads(nyc["attrs"])["date_only"] is True
    areas = store.read("areas")
    assert {"la", "nyc"} <= set(areas["area_id"])
    assert set(events["area_id"].drop_nulls()) <= set(areas["area_id"])


@pytest.mark.realdata
def test_cli_ingest_is_idempotent(shared_data, tmp_path):
    folder = real_slice(shared_data, tmp_path, rows=100)
    args = ["--data", str(tmp_path / "data"), "--format", "calls311", "--json", str(folder)]
    first = CliRunner().invoke(ingest, args)
    assert first.exit_code == 0, first.output
    assert json.loads(first.output)["merges"]["events"]["inserted"] >= 299
    before = snapshot(tmp_path / "data")
    second = CliRunner().invoke(ingest, args)
    merges = json.loads(second.output)["merges"]
    assert all(m["inserted"] == 0 and m["updated"] == 0 for m in merges.values())
    assert snapshot(tmp_path / "data") == before


@pytest.mark.realdata
def test_corrupted_slices_are_refused(shared_data, tmp_path):
    folder = real_slice(shared_data, tmp_path, rows=20)
    data = ["--data", str(tmp_path / "data"), "--format", "calls311", str(folder)]
    path = folder / LA_2020
    frame = pl.read_csv(path, infer_schema=False)
    frame.with_columns(
        createddate=pl.when(pl.int_range(pl.len()) == 3)
        .then(pl.lit("13/45/20 9:00"))
        .otherwise("createddate")
    ).write_csv(path)
    result = CliRunner().invoke(ingest, data)
    assert result.exit_code == 2
    assert f"file {path}, row 4, column 'createddate': '13/45/20 9:00'" in result.output
    frame.drop("cd").write_csv(path)
    result = CliRunner().invoke(ingest, data)
    assert result.exit_code == 2
    assert f"file {path}, column 'cd'" in result.output and "lacks cd" in result.output
    assert not (tmp_path / "data").exists()


def test_tiny_layouts_detected_and_unknown_layout_refused(tmp_path):
    (tmp_path / "la.csv").write_text(
        "SRNumber,CreatedDate,RequestType,CD,Latitude,Longitude,Status\n"
        "1-1,07/04/2019 01:30:00 PM,Graffiti Removal,4,34.1,-118.3,Open\n"
        "1-2,07/04/2019 01:31:00 PM,Bulky Items,,0,0,Closed\n"
    )
    pl.DataFrame(
        {
            "unique_key": ["K1"],
            "opendate": [datetime(2019, 7, 4)],
            "complaint_type": ["Housing and Buildings"],
            "borough": ["Staten Island"],
        }
    ).write_parquet(tmp_path / "nyc.parquet")
    options = AdapterOptions()
    tables = adapt("calls311", [tmp_path], options)
    events = {r["event_id"]: r for r in tables["events"].iter_rows(named=True)}
    assert events["la311:1-1"]["ts"] == datetime(2019, 7, 4, 20, 30, tzinfo=UTC)  # PDT
    assert events["la311:1-1"]["category"] == "graffiti_removal"
    assert events["la311:1-2"]["area_id"] is None and events["la311:1-2"]["lat"] is None
    assert events["nyc-council:K1"]["ts"] == datetime(2019, 7, 5, 4, tzinfo=UTC)  # EDT day end
    assert events["nyc-council:K1"]["area_id"] == "nyc-staten-island"
    ingest_tables(Store(tmp_path / "data"), tables, source="calls311")
    (tmp_path / "other.csv").write_text("id,when,what\n1,2019-07-04,x\n")
    with pytest.raises(DataError, match="no known call-record layout") as err:
        adapt("calls311", [tmp_path / "other.csv"])
    assert err.value.file == str(tmp_path / "other.csv")
