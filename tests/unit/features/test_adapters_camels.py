"""CAMELS-US adapter: daily streamflow and forcing -> canonical tables, through the CLI."""

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

BASIN = "01022500"
FLOW = f"usgs_streamflow/{BASIN}_streamflow_qc.txt"
FORCING = f"basin_mean_forcing/daymet/{BASIN}_lump_cida_forcing_leap.txt"
ATTRS = ("camels_attributes_v2.0/camels_topo.txt", "camels_attributes_v2.0/camels_name.txt")


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def real_slice(shared: Path, tmp: Path, days: int = 60) -> Path:
    src, out = shared / "camels-us-4basins", tmp / "camels"
    for rel, keep in ((FLOW, days), (FORCING, 4 + days), *((a, None) for a in ATTRS)):
        lines = (src / rel).read_text().splitlines()
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text("\n".join(lines[:keep] if keep else lines) + "\n")
    return out


@pytest.mark.realdata
def test_real_slice_units_day_stamps_and_place(shared_data, tmp_path):
    folder = real_slice(shared_data, tmp_path)
    store = Store(tmp_path / "data")
    ingest_tables(store, adapt("camels", [folder]), source="camels")
    obs = store.read("observations")
    assert obs.schema["ts"] == pl.Datetime("us", "UTC")
    _, year, month, day, cfs, _ = (folder / FLOW).read_text().splitlines()[0].split()
    assert (year, month, day) == ("2000", "01", "01")
    first = obs.filter(pl.col("series_id") == f"camels-{BASIN}-discharge").sort("ts").row(0)
    # 2000-01-01 local (EST) is stamped at its end: 2000-01-02 00:00 EST = 05:00 UTC
    assert first[1] == datetime(2000, 1, 2, 5, 0, tzinfo=UTC)
    assert first[2] == pytest.approx(float(cfs) * 0.3048**3)
    fields = (folder / FORCING).read_text().splitlines()[4].split()
    prcp, tmax, tmin = float(fields[5]), float(fields[8]), float(fields[9])
    temp = obs.filter(pl.col("series_id") == f"camels-{BASIN}-temperature").sort("ts").row(0)
    assert temp[2] == pytest.approx((tmax + tmin) / 2)
    rain = obs.filter(pl.col("series_id") == f"camels-{BASIN}-rain").sort("ts").row(0)
    assert rain[2] == pytest.approx(prcp) and rain[1] == first[1]
    series = store.read("series").filter(pl.col("series_id") == f"camels-{BASIN}-discharge")
    assert series["lat"][0] == pytest.approx(44.60797)
    attrs = json.loads(series["attrs"][0])
    assert attrs["area_km2"] == pytest.approx(573.6) and attrs["rain_gauge"].endswith("-rain")
    assert store.read("areas")["name"][0].startswith("Narraguagus River")


@pytest.mark.realdata
def test_cli_ingest_is_idempotent(shared_data, tmp_path):
    folder = real_slice(shared_data, tmp_path, days=30)
    args = ["--data", str(tmp_path / "data"), "--format", "camels", "--json", str(folder)]
    first = CliRunner().invoke(ingest, args)
    assert first.exit_code == 0, first.output
    assert json.loads(first.output)["merges"]["observations"]["inserted"] == 90
    before = snapshot(tmp_path / "data")
    second = CliRunner().invoke(ingest, args)
    merges = json.loads(second.output)["merges"]
    assert all(m["inserted"] == 0 and m["updated"] == 0 for m in merges.values())
    assert snapshot(tmp_path / "data") == before


@pytest.mark.realdata
def test_corrupted_slice_is_refused(shared_data, tmp_path):
    folder = real_slice(shared_data, tmp_path, days=10)
    path = folder / FLOW
    lines = path.read_text().splitlines()
    lines[2] = lines[2].replace(lines[2].split()[4], "n/a")
    path.write_text("\n".join(lines) + "\n")
    result = CliRunner().invoke(
        ingest, ["--data", str(tmp_path / "data"), "--format", "camels", str(folder)]
    )
    assert result.exit_code == 2
    assert f"file {path}, row 3, column 'flow_cfs': 'n/a' is not a number" in result.output
    assert not (tmp_path / "data").exists()


def test_tiny_basin_missing_flow_dropped_and_explicit_zone(tmp_path):
    (tmp_path / "99999999_streamflow_qc.txt").write_text(
        "99999999 2001 07 01    35.31 A\n99999999 2001 07 02  -999.00 M\n"
    )
    daymet = tmp_path / "daymet"
    daymet.mkdir()
    (daymet / "99999999_lump_cida_forcing_leap.txt").write_text(
        "  40.00\n 300.00\n 100000000\nYear Mnth Day Hr dayl(s) prcp(mm/day) srad(W/m2) "
        "swe(mm) tmax(C) tmin(C) vp(Pa)\n2001 07 01 12\t50000\t12.5\t300\t0\t30\t10\t900\n"
    )
    options = AdapterOptions(tz="America/Denver")
    tables = adapt("camels", [tmp_path], options)
    obs = tables["observations"].sort("series_id")
    assert obs["series_id"].to_list() == [
        "camels-99999999-discharge",
        "camels-99999999-rain",
        "camels-99999999-temperature",
    ]
    assert obs["value"].to_list() == pytest.approx([35.31 * 0.3048**3, 12.5, 20.0])
    assert obs["ts"][0] == datetime(2001, 7, 2, 6, 0, tzinfo=UTC)  # end of day, MDT
    assert any("1 missing (-999) dropped" in n for n in options.notes)
    series = tables["series"].filter(pl.col("signal") == "rain_mm").row(0, named=True)
    assert series["lat"] == 40.0 and json.loads(series["attrs"])["area_km2"] == 100.0
    ingest_tables(Store(tmp_path / "data"), tables, source="camels")


def test_without_longitude_or_tz_the_zone_is_asked_for(tmp_path):
    (tmp_path / "99999999_streamflow_qc.txt").write_text("99999999 2001 07 01 35.31 A\n")
    with pytest.raises(DataError, match="pass --tz"):
        adapt("camels", [tmp_path])
