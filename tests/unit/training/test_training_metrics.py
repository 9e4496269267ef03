"""Point, interval and event metrics against values worked out by hand on tiny frames."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from training.metrics import contingency, event_skill, interval_coverage, mae, mae_by_horizon

T0 = datetime(2025, 6, 1, tzinfo=UTC)
H1, H2 = timedelta(hours=1), timedelta(hours=2)


def preds() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "horizon": [H1, H1, H1, H2, H2, H2],
            "y": [1.0, 4.0, None, 0.0, 10.0, 2.0],
            "yhat": [2.0, 2.0, 50.0, 3.0, 4.0, 2.0],
            "q10": [0.0, 4.5, 0.0, 0.0, 9.0, 2.0],
            "q90": [1.0, 6.0, 0.0, 1.0, 12.0, 2.0],
        }
    )


def test_mae_averages_absolute_errors_over_rows_with_an_observed_target() -> None:
    assert mae(preds()) == pytest.approx((1 + 2 + 3 + 6 + 0) / 5)
    assert mae(preds(), column="q90") == pytest.approx((0 + 2 + 1 + 2 + 0) / 5)


def test_mae_is_nan_when_nothing_was_observed() -> None:
    assert math.isnan(mae(preds().with_columns(pl.lit(None, dtype=pl.Float64).alias("y"))))


def test_mae_by_horizon_gives_each_horizon_its_error_and_count() -> None:
    got = mae_by_horizon(preds())
    assert got.columns == ["horizon", "mae", "n"]
    assert got["horizon"].to_list() == [H1, H2]
    assert got["mae"].to_list() == pytest.approx([1.5, 3.0])
    assert got["n"].to_list() == [2, 3]


def test_interval_coverage_counts_targets_inside_the_closed_interval() -> None:
    # inside: 1 in [0,1] (edge), 4 not in [4.5,6], 0 in [0,1], 10 in [9,12], 2 in [2,2]
    assert interval_coverage(preds()) == pytest.approx(4 / 5)
    assert math.isnan(interval_coverage(preds().filter(pl.col("y").is_null())))


def grid(values: dict[str, list[float | None]]) -> pl.DataFrame:
    rows = []
    for sid, vals in values.items():
        for k, v in enumerate(vals):
            rows.append((sid, T0 + timedelta(minutes=10 * k), v))
    return pl.DataFrame(
        rows,
        schema={"series_id": pl.String, "ts": pl.Datetime("us", "UTC"), "value": pl.Float64},
        orient="row",
    )


def t(k: int) -> datetime:
    return T0 + timedelta(minutes=10 * k)


def forecast_rows(rows: list[tuple[str, int, int, float | None, bool]]) -> pl.DataFrame:
    """``(series_id, origin step, ts step, y, warned)``."""
    return pl.DataFrame(
        {
            "series_id": [r[0] for r in rows],
            "origin": [t(r[1]) for r in rows],
            "ts": [t(r[2]) for r in rows],
            "y": [r[3] for r in rows],
            "warned": [r[4] for r in rows],
        },
        schema_overrides={"y": pl.Float64},
    )


def test_event_skill_matches_a_hand_worked_contingency_table_and_episodes() -> None:
    # threshold 5: p1 has episodes at steps 3-5 and 9; p2 has one at steps 4-6 (with a gap
    # at step 8 that must not join anything)
    observed = grid(
        {
            "p1": [0, 0, 1, 6, 7, 8, 2, 0, 0, 9, 0, 0],
            "p2": [0, 0, 0, 0, 5, 6, 5, 0, None, 0, 0, 0],
        }
    )
    rows = forecast_rows(
        [
            # p1 first episode (onset 3): warned from origin 0 and origin 2 -> lead 30 min
            ("p1", 0, 4, 7.0, True),
            ("p1", 2, 3, 6.0, True),
            ("p1", 3, 5, 8.0, False),  # miss
            # p1 second episode (onset 9): warned only from origin 10 (after onset): missed
            ("p1", 10, 9, 9.0, True),  # a hit row, but too late for the episode
            ("p1", 6, 7, 0.0, True),  # false alarm
            ("p1", 6, 8, 0.0, False),  # correct negative
            # p2 episode (onset 4): warned from origin 4 for ts 6 -> lead 0
            ("p2", 4, 6, 5.0, True),
            ("p2", 1, 2, 0.0, True),  # false alarm
            ("p2", 2, 8, None, True),  # no observation: not counted
        ]
    )
    skill = event_skill(
        rows, observed, threshold=5.0, warn=pl.col("warned"), max_lead=timedelta(hours=6)
    )
    assert (skill.hits, skill.misses, skill.false_alarms) == (4, 1, 2)
    assert skill.pod == pytest.approx(4 / 5)
    assert skill.far == pytest.approx(2 / 6)
    assert skill.csi == pytest.approx(4 / 7)
    assert (skill.events, skill.events_detected) == (3, 2)
    assert skill.event_pod == pytest.approx(2 / 3)
    assert skill.median_lead_time_min == pytest.approx(15.0)  # median of 30 and 0
    # the 0-minute lead was a hit at onset, not a warning ahead
    assert (skill.events_ahead, skill.events_at_onset) == (1, 1)
    assert skill.to_dict()["threshold"] == 5.0


def test_event_skill_does_not_credit_warnings_earlier_than_the_max_lead() -> None:
    observed = grid({"p1": [0] * 12 + [8, 8]})
    rows = forecast_rows([("p1", 0, 12, 8.0, True), ("p1", 9, 13, 8.0, True)])
    far_ahead = event_skill(
        rows, observed, threshold=5.0, warn=pl.col("warned"), max_lead=timedelta(hours=1)
    )
    assert far_ahead.events_detected == 1
    assert far_ahead.median_lead_time_min == pytest.approx(30.0)  # origin 9, not origin 0
    strict = event_skill(
        rows, observed, threshold=5.0, warn=pl.col("warned"), max_lead=timedelta(minutes=20)
    )
    assert strict.events_detected == 0
    assert strict.median_lead_time_min is None


def test_event_skill_without_events_or_warnings_reports_nan_ratios() -> None:
    observed = grid({"p1": [0, 1, 2]})
    rows = forecast_rows([("p1", 0, 1, 1.0, False), ("p1", 1, 2, 2.0, False)])
    skill = event_skill(
        rows, observed, threshold=5.0, warn=pl.col("warned"), max_lead=timedelta(hours=1)
    )
    assert (skill.hits, skill.misses, skill.false_alarms, skill.events) == (0, 0, 0, 0)
    assert math.isnan(skill.pod) and math.isnan(skill.far) and math.isnan(skill.csi)
    assert math.isnan(skill.event_pod)
    assert skill.median_lead_time_min is None


def test_event_skill_contingency_matches_the_contingency_helper() -> None:
    observed = grid({"p1": [0, 6, 7, 0]})
    rows = forecast_rows(
        [
            ("p1", 0, 1, 6.0, True),  # hit
            ("p1", 0, 2, 7.0, False),  # miss
            ("p1", 0, 3, 0.0, True),  # false alarm
            ("p1", 1, 3, 0.0, False),  # correct negative
        ]
    )
    skill = event_skill(
        rows, observed, threshold=5.0, warn=pl.col("warned"), max_lead=timedelta(hours=1)
    )
    table = contingency(rows["warned"], rows["y"] >= 5.0)
    assert table.correct_negatives == 1
    assert (skill.hits, skill.misses, skill.false_alarms) == (
        table.hits,
        table.misses,
        table.false_alarms,
    )
    assert (skill.pod, skill.far, skill.csi) == (table.pod, table.far, table.csi)


def test_event_skill_reads_each_rows_own_threshold_and_a_below_event() -> None:
    # speeds: an event is a speed below the sensor's own threshold at that time (null: none)
    observed = grid({"s1": [60, 60, 20, 15, 60, 60], "s2": [30, 30, 30, 30, 30, 30]}).with_columns(
        pl.when(pl.col("series_id") == "s1").then(25.0).otherwise(None).alias("t_blue")
    )
    rows = forecast_rows(
        [
            ("s1", 0, 2, 20.0, True),  # warned ahead of the onset at step 2: lead 20 min
            ("s1", 2, 4, 60.0, True),  # false alarm
            ("s1", 1, 5, 60.0, False),  # correct negative
            ("s2", 0, 3, 30.0, True),  # no threshold: no event, so a false alarm
        ]
    ).with_columns(pl.when(pl.col("series_id") == "s1").then(25.0).otherwise(None).alias("t_blue"))
    skill = event_skill(
        rows,
        observed,
        threshold="t_blue",
        warn=pl.col("warned"),
        max_lead=timedelta(hours=1),
        below=True,
    )
    assert (skill.hits, skill.misses, skill.false_alarms) == (1, 0, 1)
    assert (skill.events, skill.events_detected) == (1, 1)
    assert skill.median_lead_time_min == pytest.approx(20.0)
    assert skill.threshold is None
