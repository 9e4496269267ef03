"""The quality report finds injected gaps, spikes, stuck runs and late arrivals, and prints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from features.quality import QualityReport, quality_report

START = datetime(2025, 7, 1, tzinfo=UTC)
STEP = timedelta(minutes=10)
CATALOG = pl.DataFrame(
    {
        "series_id": ["gappy", "spiky", "stuck"],
        "signal": ["ponding_cm", "water_level_m", "speed_kmh"],
        "unit": ["cm", "m", "km/h"],
    }
)


def series(series_id: str, values: np.ndarray) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "series_id": series_id,
            "ts": [START + i * STEP for i in range(len(values))],
            "value": values.astype(float),
        }
    )


@pytest.fixture
def report() -> QualityReport:
    rng = np.random.default_rng(7)
    n = 200
    wave = np.sin(np.arange(n) / 15)
    gappy = series("gappy", 20 + 5 * wave + rng.normal(0, 0.5, n))
    gappy = gappy.filter(~pl.int_range(pl.len()).is_between(100, 104))  # 5 points missing
    spiky_values = 2 + 0.3 * wave + rng.normal(0, 0.02, n)
    spiky_values[120] += 5.0
    late = pl.when(pl.int_range(pl.len()) < 3).then(pl.col("ts") + timedelta(hours=2))
    spiky = series("spiky", spiky_values).with_columns(received_at=late)
    stuck_values = 40 + 10 * wave + rng.normal(0, 1.0, n)
    stuck_values[50:70] = 37.5
    frames = [gappy, spiky.select([*gappy.columns, "received_at"]), series("stuck", stuck_values)]
    observations = pl.concat(frames, how="diagonal").sample(fraction=1.0, shuffle=True, seed=1)
    return quality_report(observations, CATALOG, dropped={"spiky": 2})


def by_signal(report: QualityReport) -> dict[str, dict]:
    return {row.signal: vars(row) for row in report.signals}


def test_an_injected_gap_is_counted_with_its_missing_points(report: QualityReport) -> None:
    gappy = by_signal(report)["ponding_cm"]
    assert (gappy["gaps"], gappy["missing"], gappy["rows"]) == (1, 5, 195)


def test_an_injected_spike_is_flagged_once(report: QualityReport) -> None:
    assert by_signal(report)["water_level_m"]["spikes"] == 1
    assert report.overall.spikes == 1


def test_an_injected_stuck_run_is_flagged(report: QualityReport) -> None:
    stuck = by_signal(report)["speed_kmh"]
    assert (stuck["stuck_runs"], stuck["stuck_points"]) == (1, 20)


def test_late_arrivals_and_dropped_duplicates_are_counted(report: QualityReport) -> None:
    spiky = by_signal(report)["water_level_m"]
    assert (spiky["late"], spiky["duplicates"]) == (3, 2)


def test_the_overall_row_sums_the_signals(report: QualityReport) -> None:
    assert report.overall.rows == 595 and report.overall.series == 3
    assert report.overall.start == START


def test_the_report_prints_as_an_aligned_table_and_a_dict(report: QualityReport) -> None:
    lines = report.to_text().splitlines()
    assert lines[0].split()[:3] == ["signal", "rows", "series"]
    assert len({len(line) for line in lines}) == 1
    assert lines[-1].startswith("all")
    as_dict = report.to_dict()
    assert as_dict["overall"]["start"] == START.isoformat()
    assert [s["signal"] for s in as_dict["signals"]] == ["ponding_cm", "speed_kmh", "water_level_m"]


def test_out_of_range_values_and_unknown_series_are_reported() -> None:
    frame = series("p9", np.array([1.0, 2.0, 500.0, 3.0]))
    report = quality_report(frame, CATALOG.head(0))
    assert report.signals[0].signal == "unknown" and report.overall.out_of_range == 0
    catalog = pl.DataFrame({"series_id": ["p9"], "signal": ["ponding_cm"], "unit": ["cm"]})
    assert quality_report(frame, catalog).overall.out_of_range == 1
