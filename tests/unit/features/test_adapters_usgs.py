"""USGS NWIS adapter: discharge, stage and rain CSVs -> canonical tables, through the CLI."""

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

FILES = {
    "rain": "Rain_Gage_at_Lake_Johnson_354546078422045.csv",
    "up": "Walnut_Creek_at_Trailwood_Drive_0208734210.csv",
    "down": "Walnut_Creek_at_South_Wilmington_St_0208734795.csv",
    "stage": "Walnut_Creek_at_South_State_Street_0208735460.csv",
}


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def real_slice(shared: Path, tmp: Path, rows: int = 500) -> Path:
    out = tmp / "usgs"
    out.mkdir()
    for name in FILES.values():
        lines = (shared / "walnut-creek-usgs" / name).read_text().splitlines()[: rows + 1]
        (out / name).write_text("\n".join(lines) + "\n")
    return out


def first_value(folder: Path, name: str) -> tuple[str, float]:
    stamp, value = (folder / name).read_text().splitlines()[1].split(",")
    return stamp, float(value)


@pytest.mark.realdata
def test_real_slice_units_times_and_upstream(shared_data, tmp_path):
    folder = real_slice(shared_data, tmp_path)
    store = Store(tmp_path / "data")
    ingest_tables(store, adapt("usgs", [folder]), source="usgs")
    obs, series = store.read("observations"), store.read("series")
    assert obs.schema["ts"] == pl.Datetime("us", "UTC")

    def first(series_id: str) -> dict:
        return obs.filter(pl.col("series_id") == series_id).sort("ts").row(0, named=True)

    stamp, cfs = first_value(folder, FILES["up"])
    assert stamp == "2024-07-01 04:00:00"  # naive UTC in the export
    row = first("usgs-0208734210-discharge")
    assert row["ts"] == datetime(2024, 7, 1, 4, 0, tzinfo=UTC)
    assert row["value"] == pytest.approx(cfs * 0.3048**3)
    assert first("usgs-0208735460-stage")["value"] == pytest.approx(
        first_value(folder, FILES["stage"])[1] * 0.3048
    )
    assert first("usgs-354546078422045-rain")["value"] == pytest.approx(
        first_value(folder, FILES["rain"])[1] * 25.4
    )
    by_id = {r["series_id"]: r for r in series.iter_rows(named=True)}
    assert by_id["usgs-0208734210-discharge"]["signal"] == "discharge_m3s"
    assert by_id["usgs-0208735460-stage"]["signal"] == "water_level_m"
    stage = json.loads(by_id["usgs-0208735460-stage"]["attrs"])
    assert stage["upstream"] == ["usgs-0208734795-discharge"]
    # every gauge above, the nearest first
    assert stage["upstream_all"] == ["usgs-0208734795-discharge", "usgs-0208734210-discharge"]
    assert stage["rain_gauge"] == "usgs-354546078422045-rain"
    assert json.loads(by_id["usgs-0208734210-discharge"]["attrs"])["upstream"] == []
    rain = by_id["usgs-354546078422045-rain"]
    assert rain["lat"] == pytest.approx(35.76278) and rain["lon"] == pytest.approx(-78.70556)
    assert by_id["usgs-0208734210-discharge"]["lat"] is None


@pytest.mark.realdata
def test_cli_ingest_is_idempotent(shared_data, tmp_path):
    folder = real_slice(shared_data, tmp_path, rows=200)
    args = ["--data", str(tmp_path / "data"), "--format", "usgs", "--json", str(folder)]
    first = CliRunner().invoke(ingest, args)
    assert first.exit_code == 0, first.output
    assert json.loads(first.output)["merges"]["observations"]["inserted"] == 4 * 200
    before = snapshot(tmp_path / "data")
    second = CliRunner().invoke(ingest, args)
    merges = json.loads(second.output)["merges"]
    assert all(m["inserted"] == 0 and m["updated"] == 0 for m in merges.values())
    assert snapshot(tmp_path / "data") == before


@pytest.mark.realdata
def test_corrupted_slices_are_refused(shared_data, tmp_path):
    folder = real_slice(shared_data, tmp_path, rows=20)
    data = ["--data", str(tmp_path / "data"), "--format", "usgs", str(folder)]
    path = folder / FILES["down"]
    lines = path.read_text().splitlines()
    lines[7] = lines[7].split(",")[0] + ",12..5"
    path.write_text("\n".join(lines) + "\n")
    result = CliRunner().invoke(ingest, data)
    assert result.exit_code == 2
    assert f"file {path}, row 7, column 'value': '12..5' is not a number" in result.output
    lines[0] = "datetime,discharge"
    path.write_text("\n".join(lines) + "\n")
    result = CliRunner().invoke(ingest, data)
    assert result.exit_code == 2
    assert f"file {path}, column 'value'" in result.output and "lacks column" in result.output
    assert not (tmp_path / "data").exists()


def test_tiny_files_parameter_from_name_and_blank_values(tmp_path):
    (tmp_path / "Mill_Creek_discharge_at_Elm_St_01234567.csv").write_text(
        "datetime,value\n2024-07-01 00:00:00,10\n2024-07-01 00:05:00,\n"
    )
    (tmp_path / "Mill_Creek_stage_at_Oak_St_01234590.csv").write_text(
        "datetime,value\n2024-07-01 00:00:00,3.5\n"
    )
    options = AdapterOptions(tz="America/New_York")
    tables = adapt("usgs", [tmp_path], options)
    obs = tables["observations"].sort("series_id")
    assert obs["series_id"].to_list() == ["usgs-01234567-discharge", "usgs-01234590-stage"]
    assert obs["value"].to_list() == pytest.approx([10 * 0.3048**3, 3.5 * 0.3048])
    assert obs["ts"][0] == datetime(2024, 7, 1, 4, 0, tzinfo=UTC)  # EDT midnight
    assert any("1 blank dropped" in n for n in options.notes)
    report = ingest_tables(Store(tmp_path / "data"), tables, source="usgs")
    assert report.merges["series"].inserted == 2


def test_unknown_parameter_is_refused_with_the_fix(tmp_path):
    (tmp_path / "Somewhere_09999999.csv").write_text("datetime,value\n2024-07-01 00:00,1\n")
    with pytest.raises(DataError, match="rain, stage or discharge in the file name"):
        adapt("usgs", [tmp_path])
