"""The store's layout: observations and events by UTC day, so a live batch rewrites one day;
a store written the earlier ways (one file, one file a month) reads the same and is rewritten
by day, whole, the first time something is written to it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from features import DataError, Store
from features.ingest import merge
from features.schemas import conform

T0 = datetime(2025, 8, 30, 22, 0, tzinfo=UTC)


def _observations(hours: int, start: datetime = T0) -> pl.DataFrame:
    ts = [start + timedelta(hours=h) for h in range(hours)]
    return conform(
        "observations",
        pl.DataFrame(
            {"series_id": ["s1"] * hours, "ts": ts, "value": [float(h) for h in range(hours)]}
        ),
    )


def _layout(root: Path, table: str) -> list[str]:
    return sorted(p.name for p in (root / table).glob("*.parquet"))


def test_a_live_batch_rewrites_only_its_day(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.write("observations", _observations(72))  # 30 Aug 22:00 to 2 Sep 21:00, UTC
    assert _layout(tmp_path, "observations") == [
        "2025-08-30.parquet", "2025-08-31.parquet", "2025-09-01.parquet", "2025-09-02.parquet"
    ]  # fmt: skip
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "observations").glob("*")}
    late = _observations(1, T0 + timedelta(hours=80))  # 3 Sep
    assert merge(store, "observations", late).inserted == 1
    after = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "observations").glob("*")}
    assert {k for k in before if after[k] != before[k]} == set()  # old days untouched
    assert set(after) - set(before) == {"2025-09-03.parquet"}
    assert store.read("observations").height == 73


def test_a_store_written_by_month_or_as_one_file_reads_the_same_and_moves_to_days(
    tmp_path: Path,
) -> None:
    rows = _observations(72)
    for layout in ("monthly", "single"):
        root = tmp_path / layout
        (root / "observations").mkdir(parents=True)
        if layout == "monthly":
            for month in ("2025-08", "2025-09"):
                part = rows.filter(pl.col("ts").dt.strftime("%Y-%m") == month)
                part.write_parquet(root / "observations" / f"{month}.parquet")
        else:
            (root / "observations").rmdir()
            rows.write_parquet(root / "observations.parquet")
        store = Store(root)
        assert_frame_equal(store.read("observations").sort("ts"), rows.sort("ts"))
        merge(store, "observations", _observations(1, T0 + timedelta(hours=80)))
        assert all(len(Path(n).stem) == 10 for n in _layout(root, "observations")), layout
        assert not (root / "observations.parquet").exists()
        assert store.read("observations").height == 73, layout
        assert not list(root.glob(".observations*"))  # no temporary folder left


def test_a_row_without_a_time_is_refused_not_dropped(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.write("observations", _observations(3))
    rows = pl.concat([_observations(1, T0 + timedelta(days=5)), _observations(1)])
    rows = rows.with_columns(
        pl.when(pl.int_range(pl.len()) == 1).then(None).otherwise(pl.col("ts")).alias("ts")
    )
    with pytest.raises(DataError, match="1 rows without a time"):
        store.replace_overlapping("observations", rows)
    assert store.read("observations").height == 3  # nothing written
