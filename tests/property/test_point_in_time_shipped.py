"""Property, for every shipped task on the simulated city: rows not known at an origin (later
observations, late arrivals, later events and later forecast issues) never change its features.
"""

from __future__ import annotations

import functools
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import citysim
from features import (
    KEY_COLUMNS,
    CityTables,
    build_features,
    conform,
    load_task,
    shipped_tasks_dir,
    task_tables,
)

START = datetime(2025, 8, 1, tzinfo=UTC)
DAYS = 16
ORIGIN = START + timedelta(days=15)
SHIPPED = sorted(p.stem for p in shipped_tasks_dir().glob("*.yaml"))


@functools.cache
def _city() -> CityTables:
    """The city as known at ORIGIN (nothing after it), so every appended row is new."""
    full = CityTables(
        **citysim.simulate(
            days=DAYS, seed=5, start=START.date(), typhoons=[ORIGIN - timedelta(hours=6)]
        )
    )
    return full.until(ORIGIN)


@st.composite
def unknown_rows(draw: st.DrawFn) -> dict:
    series = _city().series["series_id"].to_list()
    n = draw(st.integers(1, 40))
    return {
        "series": draw(st.lists(st.sampled_from(series), min_size=n, max_size=n)),
        "after_min": draw(st.lists(st.integers(1, 36 * 60), min_size=n, max_size=n)),
        "before_min": draw(st.lists(st.integers(1, 48 * 60), min_size=n, max_size=n)),
        "late_min": draw(st.lists(st.integers(1, 24 * 60), min_size=n, max_size=n)),
        "values": draw(st.lists(st.floats(0, 150), min_size=n, max_size=n)),
        "events": draw(st.integers(0, 30)),
        "category": draw(st.sampled_from(["waterlogging", "noise", "rainstorm_red"])),
        "issue_after_h": draw(st.integers(1, 12)),
    }


def _append(tables: CityTables, d: dict) -> CityTables:
    future = pl.DataFrame(
        {
            "series_id": d["series"],
            "ts": [ORIGIN + timedelta(minutes=m) for m in d["after_min"]],
            "value": d["values"],
        }
    )
    # stamped before the origin (off the 5/10-minute marks, so the keys are new) but received
    # after it: late arrivals
    late = pl.DataFrame(
        {
            "series_id": d["series"],
            "ts": [ORIGIN - timedelta(minutes=m, seconds=7) for m in d["before_min"]],
            "value": d["values"],
            "received_at": [ORIGIN + timedelta(minutes=m) for m in d["late_min"]],
        }
    )
    n = d["events"]
    source = "weather" if d["category"].startswith("rainstorm") else "hotline"
    events = pl.DataFrame(
        {
            "event_id": [f"later-{i}" for i in range(n)],
            "ts": [ORIGIN + timedelta(minutes=5 * (i + 1)) for i in range(n)],
            "source": [source] * n,
            "category": [d["category"]] * n,
            "area_id": ["gulou"] * n,
            "attrs": [json.dumps({"action": "issue"})] * n,
        }
    )
    issued = ORIGIN + timedelta(hours=d["issue_after_h"])
    forecasts = pl.DataFrame(
        {
            "issued_at": [issued] * 24,
            "valid_at": [issued + timedelta(hours=h) for h in range(-12, 12)],
            "area_id": ["gulou"] * 24,
            "variable": ["rain_mm"] * 24,
            "value": [99.0] * 24,
        }
    )
    return replace(
        tables,
        observations=pl.concat(
            [tables.observations, conform("observations", future), conform("observations", late)]
        ),
        events=pl.concat([tables.events, conform("events", events)]),
        weather_forecasts=pl.concat(
            [tables.weather_forecasts, conform("weather_forecasts", forecasts)]
        ),
    )


@functools.cache
def _before(name: str) -> pl.DataFrame:
    return build_features(
        task_tables(_city(), load_task(name), live_until=ORIGIN), [ORIGIN], with_target=False
    )


@pytest.mark.parametrize("name", SHIPPED)
@settings(max_examples=6, deadline=None)
@given(drawn=unknown_rows())
def test_rows_unknown_at_the_origin_never_change_a_shipped_task_s_features(name, drawn):
    task = load_task(name)
    after = build_features(
        task_tables(_append(_city(), drawn), task, live_until=ORIGIN), [ORIGIN], with_target=False
    )
    assert_frame_equal(after.sort(KEY_COLUMNS), _before(name).sort(KEY_COLUMNS))
