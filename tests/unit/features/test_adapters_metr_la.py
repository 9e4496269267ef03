"""METR-LA adapter: speed matrix + sensor graph -> canonical tables, through the CLI."""

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

MPH = 1.609344


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def real_slice(shared: Path, tmp: Path, rows: int = 300) -> Path:
    """The first ``rows`` steps of the speed matrix, with the full (small) graph files."""
    src, out = shared / "metr-la-1week", tmp / "metr"
    out.mkdir()
    lines = (src / "los_speed.csv").read_text().splitlines()[: rows + 1]
    (out / "los_speed.csv").write_text("\n".join(lines) + "\n")
    for name in ("los_adj.csv", "graph_sensor_locations.csv"):
        (out / name).write_bytes((src / name).read_bytes())
    return out


@pytest.mark.realdata
def test_real_slice_is_canonical_with_units_times_and_neighbours(shared_data, tmp_path):
    folder = real_slice(shared_data, tmp_path)
    header, first = (folder / "los_speed.csv").read_text().splitlines()[:2]
    sensor, mph = header.split(",")[0], float(first.split(",")[0])
    tables = adapt("metr-la", [folder])
    report = ingest_tables(Store(tmp_path / "data"), tables, source="metr-la")
    assert report.merges["series"].inserted == 207
    obs = Store(tmp_path / "data").read("observations")
    assert obs.schema["ts"] == pl.Datetime("us", "UTC")
    row = obs.filter(pl.col("series_id") == f"metr-la-{sensor}").sort("ts").row(0, named=True)
    assert row["ts"] == datetime(2012, 3, 1, 8, 0, tzinfo=UTC)  # 00:00 PST = 08:00 UTC
    assert row["value"] == pytest.approx(mph * MPH)
    series = Store(tmp_path / "data").read("series")
    attrs = [json.loads(a) for a in series["attrs"]]
    ids = set(series["series_id"])
    assert sum(bool(a["neighbours"]) for a in attrs) > 150
    for sid, a in zip(series["series_id"], attrs, strict=True):
        assert sid not in a["neighbours"] and set(a["neighbours"]) <= ids
        assert 0 < a["free_flow_kmh"] <= 160
    assert series["lat"].null_count() == 0


@pytest.mark.realdata
def test_cli_ingest_is_idempotent(shared_data, tmp_path):
    folder = real_slice(shared_data, tmp_path, rows=100)
    args = ["--data", str(tmp_path / "data"), "--format", "metr-la", "--json", str(folder)]
    first = CliRunner().invoke(ingest, args)
    assert first.exit_code == 0, first.output
    assert json.loads(first.output)["merges"]["observations"]["inserted"] == 207 * 100
    before = snapshot(tmp_path / "data")
    second = CliRunner().invoke(ingest, args)
    assert second.exit_code == 0, second.output
    merges = json.loads(second.output)["merges"]
    assert all(m["inserted"] == 0 and m["updated"] == 0 for m in merges.values())
    assert snapshot(tmp_path / "data") == before


@pytest.mark.realdata
def test_corrupted_slice_is_refused_with_file_row_column(shared_data, tmp_path):
    folder = real_slice(shared_data, tmp_path, rows=50)
    lines = (folder / "los_speed.csv").read_text().splitlines()
    cells = lines[5].split(",")
    cells[2] = "abc"
    lines[5] = ",".join(cells)
    (folder / "los_speed.csv").write_text("\n".join(lines) + "\n")
    sensor = lines[0].split(",")[2]
    result = CliRunner().invoke(
        ingest, ["--data", str(tmp_path / "data"), "--format", "metr-la", str(folder)]
    )
    assert result.exit_code == 2
    assert f"los_speed.csv, row 5, column '{sensor}'" in result.output
    assert "'abc' is not a number" in result.output
    assert not (tmp_path / "data").exists()


def tiny(tmp: Path, speeds: str) -> Path:
    (tmp / "los_speed.csv").write_text(speeds)
    (tmp / "los_adj.csv").write_text("1,0.9,0.2\n0.9,1,0\n0.2,0,1\n")
    (tmp / "graph_sensor_locations.csv").write_text(
        "index,sensor_id,latitude,longitude\n0,11,34.1,-118.2\n1,12,34.2,-118.3\n2,13,34.3,-118.4\n"
    )
    return tmp


def test_tiny_matrix_zeros_dropped_graph_and_start(tmp_path):
    folder = tiny(tmp_path, "11,12,13\n60,0,30\n50,40,0\n")
    options = AdapterOptions(start="2012-07-01T12:00", tz="America/Los_Angeles")
    tables = adapt("metr-la", [folder], options)
    obs = tables["observations"].sort("series_id", "ts")
    assert obs.height == 4  # two zeros are missing readings
    assert obs["ts"].to_list()[:2] == [
        datetime(2012, 7, 1, 19, 0, tzinfo=UTC),  # PDT = UTC-7
        datetime(2012, 7, 1, 19, 5, tzinfo=UTC),
    ]
    assert obs["value"][0] == pytest.approx(60 * MPH)
    attrs = {r["series_id"]: json.loads(r["attrs"]) for r in tables["series"].iter_rows(named=True)}
    assert attrs["metr-la-11"]["neighbours"] == ["metr-la-12"]  # 0.2 is below the threshold
    assert attrs["metr-la-13"]["neighbours"] == []
    assert any("dropped 2 zero readings" in n for n in options.notes)
    report = ingest_tables(Store(tmp_path / "data"), tables, source="metr-la")
    assert report.merges["observations"].inserted == 4


def test_out_of_range_speed_points_at_the_raw_cell(tmp_path):
    folder = tiny(tmp_path, "11,12,13\n60,50,30\n50,120,40\n")  # 120 mph = 193 km/h
    with pytest.raises(DataError) as err:
        ingest_tables(Store(tmp_path / "data"), adapt("metr-la", [folder]), source="metr-la")
    assert err.value.file == str(folder / "los_speed.csv")
    assert (err.value.row, err.value.column) == (2, "12")
    assert not (tmp_path / "data").exists()
