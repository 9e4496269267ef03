"""Daily count tables (NYC 311 street flooding, NYC Council by borough x type) -> count series."""

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

FLOODING = "nyc311-street-flooding/flooding_311_daily_resample_D.csv"
FLOODING_OTHER = "nyc311-street-flooding/daily-street-flooding-counts.csv"
COUNCIL = "nyc-council-complaints/daily_counts_by_borough_type.csv"


def head_slice(shared: Path, tmp: Path, name: str, rows: int) -> Path:
    lines = (shared / name).read_text().splitlines()[: rows + 1]
    path = tmp / Path(name).name
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.realdata
def test_street_flooding_days_are_stamped_at_their_local_end(shared_data, tmp_path):
    path = head_slice(shared_data, tmp_path, FLOODING, 60)
    store = Store(tmp_path / "data")
    ingest_tables(store, adapt("daily-counts", [path]), source="daily-counts")
    obs = store.read("observations").sort("ts")
    assert obs["series_id"].unique().to_list() == ["nyc311-street-flooding"]
    raw = pl.read_csv(path)
    assert raw.row(0) == ("2010-01-02", 3)
    # 2010-01-02 ends at 2010-01-03 00:00 EST = 05:00 UTC
    assert obs.row(0, named=True)["ts"] == datetime(2010, 1, 3, 5, tzinfo=UTC)
    assert obs["value"].to_list() == [float(v) for v in raw["count"]]
    series = store.read("series").row(0, named=True)
    assert (series["signal"], series["unit"], series["area_id"]) == (
        "hotline_count",
        "count",
        "nyc",
    )
    assert json.loads(series["attrs"])["category"] == "street_flooding"


@pytest.mark.realdata
def test_council_spellings_of_one_type_are_one_series(shared_data, tmp_path):
    lines = (shared_data / COUNCIL).read_text().splitlines()
    day = [line for line in lines if line.startswith("2021-11-30,Bronx,")]
    assert any(",HOUSING AND BUILDINGS," in line for line in day)
    path = tmp_path / "daily_counts_by_borough_type.csv"
    path.write_text("\n".join([lines[0], *day]) + "\n")
    options = AdapterOptions()
    store = Store(tmp_path / "data")
    ingest_tables(store, adapt("daily-counts", [path], options), source="daily-counts")
    housing = store.read("observations").filter(
        pl.col("series_id") == "nyc-council-bronx-housing-and-buildings"
    )
    expected = sum(int(x.rsplit(",", 1)[1]) for x in day if "housing and buildings" in x.lower())
    assert housing["value"].to_list() == [float(expected)]
    assert "HOUSING AND BUILDINGS / Housing and Buildings" in "\n".join(options.notes)
    areas = store.read("areas").sort("area_id")
    assert areas["area_id"].to_list() == ["nyc", "nyc-bronx"]
    assert areas.filter(pl.col("area_id") == "nyc-bronx")["parent_id"][0] == "nyc"


@pytest.mark.realdata
def test_the_two_street_flooding_exports_together_are_refused(shared_data, tmp_path):
    a = head_slice(shared_data, tmp_path, FLOODING, 10)
    b = head_slice(shared_data, tmp_path, FLOODING_OTHER, 10)
    result = CliRunner().invoke(
        ingest, ["--data", str(tmp_path / "data"), "--format", "daily-counts", str(a), str(b)]
    )
    assert result.exit_code != 0
    assert "gives series 'nyc311-street-flooding' again" in result.output
    assert not (tmp_path / "data").exists()


def test_absent_days_count_zero_and_the_notes_say_so(tmp_path):
    path = tmp_path / "requests.csv"
    path.write_text(
        "date,district,count\n2024-03-01,North,2\n2024-03-04,North,1\n2024-03-02,South,5\n"
    )
    with pytest.raises(DataError) as err:
        adapt("daily-counts", [path])
    assert "pass --tz" in str(err.value)
    options = AdapterOptions(tz="UTC")
    obs = adapt("daily-counts", [path], options)["observations"].sort("series_id", "ts")
    north = obs.filter(pl.col("series_id") == "requests-north")["value"].to_list()
    assert north == [2.0, 0.0, 0.0, 1.0]
    assert obs.filter(pl.col("series_id") == "requests-south")["value"].to_list() == [
        0.0,
        5.0,
        0.0,
        0.0,
    ]
    assert "5 absent series-days counted zero" in "\n".join(options.notes)


def test_open_days_only_leave_absent_days_missing_through_the_cli_and_say_so(tmp_path):
    # a weekday office: Friday 2024-03-01 and Monday 03-04 listed, the weekend is no day of zero
    path = tmp_path / "requests.csv"
    path.write_text("date,district,count\n2024-03-01,North,2\n2024-03-04,North,1\n")
    options = AdapterOptions(tz="UTC", absent_days="missing")
    obs = adapt("daily-counts", [path], options)["observations"].sort("ts")
    assert obs["value"].to_list() == [2.0, 1.0]
    assert "2 absent series-days left missing" in "\n".join(options.notes)
    data = tmp_path / "data"
    runner = CliRunner()
    args = ["--data", str(data), "--format", "daily-counts", "--tz", "UTC"]
    done = runner.invoke(ingest, [*args, "--absent-days", "missing", str(path)])
    assert done.exit_code == 0, done.output
    assert "left missing" in done.output
    assert Store(data).read("observations").height == 2
    wrong = runner.invoke(ingest, ["--data", str(data), "--absent-days", "missing", str(path)])
    assert wrong.exit_code != 0 and "applies only to --format daily-counts" in wrong.output


def test_a_count_that_is_not_whole_is_refused_at_its_row(tmp_path):
    path = tmp_path / "requests.csv"
    path.write_text("day,n\n2024-03-01,2\n2024-03-02,2.5\n")
    with pytest.raises(DataError) as err:
        adapt("daily-counts", [path], AdapterOptions(tz="UTC"))
    assert (err.value.row, err.value.column) == (2, "n")
