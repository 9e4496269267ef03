"""Ingest: every kind of bad input is refused with file, row and column, and writes nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from features.cli import ingest
from features.errors import DataError
from features.ingest import ingest_files, merge, read_input
from features.store import Store

SERIES = """series_id,signal,unit,area_id,lat,lon,attrs
p1,ponding_cm,cm,gulou,26.08,119.30,"{""warning_cm"": 10}"
r1,rain_mm,mm,gulou,26.10,119.31,
w1,water_level_m,m,taijiang,26.05,119.32,
"""
OBS_HEADER = "series_id,ts,value\n"
OBS = (
    OBS_HEADER
    + "p1,2025-07-01T00:00:00Z,1.5\np1,2025-07-01T00:10:00Z,2.0\nr1,2025-07-01T00:00:00Z,0\n"
)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """A store holding the series catalog and a few observations."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    store = Store(tmp_path / "data")
    ingest_files(
        store, [write(inputs, "series.csv", SERIES), write(inputs, "observations.csv", OBS)]
    )
    return store


BAD_OBSERVATIONS = {
    "non-number value": (
        OBS_HEADER + "p1,2025-07-01T01:00Z,1\np1,2025-07-01T02:00Z,abc\n",
        2,
        "value",
        "'abc' is not a number",
    ),
    "unparseable timestamp": (
        OBS_HEADER + "p1,2025-07-01T01:00Z,1\np1,yesterday,1\n",
        2,
        "ts",
        "'yesterday' is not a timestamp",
    ),
    "impossible date": (
        OBS_HEADER + "p1,2025-02-30T01:00:00+08:00,1\n",
        1,
        "ts",
        "is not a timestamp",
    ),
    "naive timestamp": (OBS_HEADER + "p1,2025-07-01 08:00:00,1\n", 1, "ts", "has no time zone"),
    "wrong unit": (
        "series_id,ts,value,unit\np1,2025-07-01T01:00Z,1,kg\n",
        1,
        "unit",
        "allowed units: cm, in, m, mm",
    ),
    "out-of-range value": (
        OBS_HEADER + "p1,2025-07-01T01:00Z,1\np1,2025-07-01T02:00Z,450\n",
        2,
        "value",
        "outside the range of ponding_cm",
    ),
    "NaN": (OBS_HEADER + "p1,2025-07-01T01:00Z,NaN\n", 1, "value", "not a finite number"),
    "unknown series": (
        OBS_HEADER + "p1,2025-07-01T01:00Z,1\nzz9,2025-07-01T01:00Z,1\n",
        2,
        "series_id",
        "series 'zz9' is not in the series catalog",
    ),
    "conflicting duplicate": (
        OBS_HEADER
        + "p1,2025-07-01T01:00Z,1\nr1,2025-07-01T01:00Z,1\np1,2025-07-01T09:00+08:00,3\n",
        3,
        "value",
        "rows 1 and 3 repeat the key",
    ),
    "received before ts": (
        "series_id,ts,value,received_at\np1,2025-07-01T01:00Z,1,2025-07-01T00:59Z\n",
        1,
        "received_at",
        "is before ts",
    ),
    "empty required value": (OBS_HEADER + "p1,2025-07-01T01:00Z,\n", 1, "value", "is empty"),
}


@pytest.mark.parametrize("case", list(BAD_OBSERVATIONS))
def test_bad_observations_are_refused_with_file_row_column_and_store_unchanged(
    store: Store, tmp_path: Path, case: str
) -> None:
    text, row, column, fragment = BAD_OBSERVATIONS[case]
    path = write(tmp_path, "observations-bad.csv", text)
    before = snapshot(store.root)
    with pytest.raises(DataError) as info:
        ingest_files(store, [path])
    err = info.value
    assert (err.file, err.row, err.column) == (str(path), row, column)
    assert f"file {path}, row {row}, column '{column}'" in str(err)
    assert fragment in str(err)
    assert snapshot(store.root) == before


@pytest.mark.parametrize(
    ("text", "column", "fragment"),
    [
        ("series_id,ts\np1,2025-07-01T01:00Z\n", "value", "header lacks required column 'value'"),
        (
            OBS_HEADER.strip() + ",depth\np1,2025-07-01T01:00Z,1,3\n",
            "depth",
            "unknown column 'depth'",
        ),
    ],
)
def test_bad_header_is_refused_naming_file_and_column_and_expected_columns(
    store: Store, tmp_path: Path, text: str, column: str, fragment: str
) -> None:
    path = write(tmp_path, "observations-x.csv", text)
    before = snapshot(store.root)
    with pytest.raises(DataError) as info:
        ingest_files(store, [path])
    assert (info.value.file, info.value.column) == (str(path), column)
    assert fragment in str(info.value) and "expected columns series_id, ts, value" in str(
        info.value
    )
    assert snapshot(store.root) == before


def test_bad_input_into_an_empty_store_creates_nothing(tmp_path: Path) -> None:
    root = tmp_path / "data"
    series = write(tmp_path, "series.csv", SERIES)
    bad = write(tmp_path, "observations.csv", OBS_HEADER + "p1,2025-07-01T01:00Z,oops\n")
    with pytest.raises(DataError, match="row 1, column 'value'"):
        ingest_files(Store(root), [series, bad])
    assert not root.exists()


def test_bad_attrs_json_in_a_series_file_is_refused(store: Store, tmp_path: Path) -> None:
    path = write(
        tmp_path, "series-new.csv", 'series_id,signal,unit,attrs\nq1,ponding_cm,cm,"{bad"\n'
    )
    before = snapshot(store.root)
    with pytest.raises(DataError) as info:
        ingest_files(store, [path])
    assert (info.value.row, info.value.column) == (1, "attrs")
    assert "is not a JSON object" in str(info.value)
    assert snapshot(store.root) == before


def test_invalid_tz_name_is_a_clear_error_and_writes_nothing(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path, "observations.csv", OBS_HEADER + "p1,2025-07-01 08:00,1\n")
    before = snapshot(store.root)
    with pytest.raises(DataError, match="'Mars/Olympus' is not an IANA time zone name"):
        ingest_files(store, [path], tz="Mars/Olympus")
    assert snapshot(store.root) == before


def test_one_bad_file_among_good_ones_writes_nothing(store: Store, tmp_path: Path) -> None:
    good_series = write(tmp_path, "series-new.csv", "series_id,signal,unit\nq1,ponding_cm,cm\n")
    good = write(tmp_path, "observations-a.csv", OBS_HEADER + "q1,2025-07-02T00:00Z,4\n")
    bad = write(tmp_path, "observations-b.csv", OBS_HEADER + "q1,2025-07-02T00:00Z,4\nq1,x,1\n")
    before = snapshot(store.root)
    with pytest.raises(DataError) as info:
        ingest_files(store, [good_series, good, bad])
    assert (info.value.file, info.value.row, info.value.column) == (str(bad), 2, "ts")
    assert snapshot(store.root) == before


def test_naive_timestamps_are_localised_with_tz_and_stored_in_utc(
    store: Store, tmp_path: Path
) -> None:
    text = OBS_HEADER + "w1,2025-07-01 08:00:00,2.5\nw1,2025-07-01T08:10:00+08:00,2.6\n"
    ingest_files(store, [write(tmp_path, "observations.csv", text)], tz="Asia/Shanghai")
    stored = store.read("observations").filter(pl.col("series_id") == "w1")
    assert stored["ts"].dtype == pl.Datetime("us", "UTC")
    assert stored["ts"].to_list() == [
        datetime(2025, 7, 1, 0, 0, tzinfo=UTC),
        datetime(2025, 7, 1, 0, 10, tzinfo=UTC),
    ]


def test_convertible_units_are_converted_to_the_catalog_unit(store: Store, tmp_path: Path) -> None:
    text = "series_id,ts,value,unit\nr1,2025-07-01T01:00Z,1,in\np1,2025-07-01T01:00Z,0.12,m\n"
    ingest_files(store, [write(tmp_path, "observations.csv", text)])
    stored = store.read("observations").filter(pl.col("ts") == datetime(2025, 7, 1, 1, tzinfo=UTC))
    values = dict(stored.select("series_id", "value").iter_rows())
    assert values == pytest.approx({"r1": 25.4, "p1": 12.0})


def test_identical_duplicates_are_dropped_and_counted(store: Store, tmp_path: Path) -> None:
    text = OBS_HEADER + "p1,2025-07-01T01:00Z,1\np1,2025-07-01T09:00+08:00,1.0\n"
    report = ingest_files(store, [write(tmp_path, "observations.csv", text)])
    assert report.dropped["observations"] == 1
    assert report.merges["observations"].inserted == 1
    assert report.quality is not None and report.quality.overall.duplicates == 1


def test_ingesting_the_same_file_twice_leaves_the_store_byte_identical(
    store: Store, tmp_path: Path
) -> None:
    path = write(tmp_path, "observations.csv", OBS_HEADER + "w1,2025-07-01T03:00Z,1.25\n")
    first = ingest_files(store, [path])
    after_first = snapshot(store.root)
    second = ingest_files(store, [path])
    assert first.merges["observations"].inserted == 1
    assert vars(second.merges["observations"]) == {
        "table": "observations",
        "inserted": 0,
        "updated": 0,
        "unchanged": 1,
    }
    assert snapshot(store.root) == after_first


def test_an_updated_value_replaces_the_stored_row(store: Store, tmp_path: Path) -> None:
    before = store.read("observations").height
    path = write(tmp_path, "observations.csv", OBS_HEADER + "p1,2025-07-01T00:10:00Z,7\n")
    report = ingest_files(store, [path])
    stored = store.read("observations")
    assert report.merges["observations"].updated == 1
    assert stored.height == before
    assert stored.filter(pl.col("series_id") == "p1")["value"].to_list() == [1.5, 7.0]


def test_store_rows_are_written_sorted_by_key(store: Store) -> None:
    stored = store.read("observations")
    assert stored.equals(stored.sort("series_id", "ts"))


def test_parquet_input_with_zoned_datetimes_is_converted_to_utc(
    store: Store, tmp_path: Path
) -> None:
    frame = pl.DataFrame(
        {"series_id": ["w1"], "ts": [datetime(2025, 7, 1, 8)], "value": [3.0]}
    ).with_columns(pl.col("ts").dt.replace_time_zone("Asia/Shanghai"))
    frame.write_parquet(tmp_path / "observations.parquet")
    ingest_files(store, [tmp_path / "observations.parquet"])
    stored = store.read("observations").filter(pl.col("series_id") == "w1")
    assert stored["ts"].to_list() == [datetime(2025, 7, 1, 0, tzinfo=UTC)]


@pytest.mark.parametrize(
    ("frame", "row", "column"),
    [
        (
            pl.DataFrame({"series_id": ["w1"], "ts": [datetime(2025, 7, 1)], "value": [1.0]}),
            1,
            "ts",
        ),
        (
            pl.DataFrame(
                {
                    "series_id": ["w1", "w1"],
                    "ts": ["2025-07-01T00:00Z"] * 2,
                    "value": [1.0, float("nan")],
                }
            ),
            2,
            "value",
        ),
        (
            pl.DataFrame({"series_id": ["w1"], "ts": ["2025-07-01T00:00Z"], "value": [99.0]}),
            1,
            "value",
        ),
    ],
    ids=["naive datetime", "nan", "out of range"],
)
def test_bad_parquet_input_is_refused_with_row_and_column(
    store: Store, tmp_path: Path, frame: pl.DataFrame, row: int, column: str
) -> None:
    path = tmp_path / "observations.parquet"
    frame.write_parquet(path)
    before = snapshot(store.root)
    with pytest.raises(DataError) as info:
        ingest_files(store, [path])
    assert (info.value.file, info.value.row, info.value.column) == (str(path), row, column)
    assert snapshot(store.root) == before


def test_a_new_series_and_its_observations_can_arrive_in_one_call(
    store: Store, tmp_path: Path
) -> None:
    obs = write(tmp_path, "observations.csv", OBS_HEADER + "s9,2025-07-01T00:00Z,40\n")
    series = write(tmp_path, "series-more.csv", "series_id,signal,unit\ns9,speed_kmh,km/h\n")
    report = ingest_files(store, [obs, series])
    assert report.merges["series"].inserted == 1
    assert report.merges["observations"].inserted == 1


def test_the_table_is_inferred_from_columns_then_from_the_file_name(tmp_path: Path) -> None:
    assert read_input(write(tmp_path, "readings.csv", OBS))[0] == "observations"
    named = write(tmp_path, "weather_forecasts-2025.csv", "a,b\n1,2\n")
    assert read_input(named)[0] == "weather_forecasts"
    with pytest.raises(DataError, match=r"cannot tell which table.*--table"):
        read_input(write(tmp_path, "stuff.csv", "a,b\n1,2\n"))
    assert read_input(write(tmp_path, "x.csv", "a\n1\n"), table="areas")[0] == "areas"


def test_merge_counts_inserted_updated_and_unchanged(tmp_path: Path) -> None:
    store = Store(tmp_path)
    rows = pl.DataFrame({"area_id": ["a", "b"], "name": ["A", "B"]})
    assert vars(merge(store, "areas", rows))["inserted"] == 2
    counts = merge(
        store, "areas", pl.DataFrame({"area_id": ["a", "b", "c"], "name": ["A", "b2", "C"]})
    )
    assert (counts.inserted, counts.updated, counts.unchanged) == (1, 1, 1)
    assert store.read("areas").height == 3


def test_cli_refuses_bad_input_with_exit_code_2_and_a_one_line_reason(tmp_path: Path) -> None:
    series = write(tmp_path, "series.csv", SERIES)
    bad = write(tmp_path, "observations.csv", OBS_HEADER + "p1,2025-07-01T01:00Z,abc\n")
    data = tmp_path / "data"
    result = CliRunner().invoke(ingest, ["--data", str(data), str(series), str(bad)])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: file ") and result.stderr.count("\n") == 1
    assert "row 1, column 'value'" in result.stderr
    assert not data.exists()


def test_cli_prints_merge_counts_and_the_quality_report(tmp_path: Path) -> None:
    series = write(tmp_path, "series.csv", SERIES)
    obs = write(tmp_path, "observations.csv", OBS)
    data = str(tmp_path / "data")
    result = CliRunner().invoke(ingest, ["--data", data, str(series), str(obs)])
    assert result.exit_code == 0, result.output
    assert "inserted" in result.output and "ponding_cm" in result.output and "gaps" in result.output
    again = CliRunner().invoke(ingest, ["--data", data, "--json", str(obs)])
    assert json.loads(again.output)["merges"]["observations"]["unchanged"] == 3
