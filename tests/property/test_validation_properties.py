"""Property: invalid rows are refused and leave the store byte-identical; valid frames merge
idempotently."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from features import DataError, Store, merge, validate

CATALOG = pl.DataFrame(
    {"series_id": ["p1", "w1"], "signal": ["ponding_cm", "water_level_m"], "unit": ["cm", "m"]}
)
RANGES = {"p1": (0.0, 300.0), "w1": (-5.0, 30.0)}
START = datetime(2025, 7, 1, tzinfo=UTC)
BAD_ROWS = {
    "out of range": ("p1", "2030-01-01T00:00:00Z", "301"),
    "nan": ("w1", "2030-01-01T00:00:00Z", "nan"),
    "infinite": ("w1", "2030-01-01T00:00:00Z", "-inf"),
    "unknown series": ("x1", "2030-01-01T00:00:00Z", "1"),
    "unparseable ts": ("p1", "2030-13-01T00:00:00Z", "1"),
    "naive ts": ("p1", "2030-01-01 00:00:00", "1"),
    "not a number": ("p1", "2030-01-01T00:00:00Z", "1,5"),
}


@st.composite
def observation_rows(draw: st.DrawFn) -> list[tuple[str, str, str]]:
    keys = draw(
        st.lists(
            st.tuples(st.sampled_from(["p1", "w1"]), st.integers(0, 5000)),
            min_size=1,
            max_size=30,
            unique=True,
        )
    )
    rows = []
    for series_id, minutes in keys:
        low, high = RANGES[series_id]
        value = draw(st.floats(low, high, allow_nan=False))
        ts = (START + timedelta(minutes=minutes)).isoformat()
        rows.append((series_id, ts, repr(value)))
    return rows


def frame_of(rows: list[tuple[str, str, str]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=["series_id", "ts", "value"], orient="row")


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@settings(max_examples=40, deadline=None)
@given(rows=observation_rows(), bad=st.sampled_from(sorted(BAD_ROWS)), where=st.integers(0, 30))
def test_frames_with_an_injected_invalid_row_are_refused_and_the_store_is_unchanged(
    rows: list[tuple[str, str, str]], bad: str, where: int
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = Store(folder)
        merge(
            store,
            "observations",
            validate("observations", frame_of(rows), source="s", catalog=CATALOG),
        )
        before = snapshot(store.root)
        position = min(where, len(rows))
        tainted = [*rows[:position], BAD_ROWS[bad], *rows[position:]]
        try:
            validated = validate("observations", frame_of(tainted), source="s", catalog=CATALOG)
        except DataError as err:
            assert err.row == position + 1 and err.file == "s"
        else:
            merge(store, "observations", validated)
            raise AssertionError(f"{bad} row was accepted")
        assert snapshot(store.root) == before


@settings(max_examples=40, deadline=None)
@given(rows=observation_rows(), again=observation_rows())
def test_valid_frames_merge_idempotently(
    rows: list[tuple[str, str, str]], again: list[tuple[str, str, str]]
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = Store(folder)
        for batch in (rows, again):
            merge(
                store,
                "observations",
                validate("observations", frame_of(batch), source="s", catalog=CATALOG),
            )
        once = snapshot(store.root)
        stored = store.read("observations")
        counts = merge(
            store,
            "observations",
            validate("observations", frame_of(again), source="s", catalog=CATALOG),
        )
        assert (counts.inserted, counts.updated, counts.unchanged) == (0, 0, len(again))
        assert snapshot(store.root) == once
        keys = {(s, datetime.fromisoformat(t)) for s, t, _ in rows + again}
        assert stored.height == len(keys)
