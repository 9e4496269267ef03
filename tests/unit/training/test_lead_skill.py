"""Lead skill: a warning counts as ahead only before the water; origins already at the level are
no decision; each episode is warned ahead, at onset or missed; the lead comes with its spread."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from training.metrics import Contingency, lead_skill

T0 = datetime(2025, 7, 1, tzinfo=UTC)
STEP = timedelta(minutes=10)
HOUR = timedelta(hours=1)
TS = pl.Datetime("us", "UTC")


def _observed(at_level: list[tuple[int, int]]) -> pl.DataFrame:
    """One gauge on a 10-minute grid for 12 hours: 3 m inside the given [start, end) minute
    spans, 1 m elsewhere; its level is 2 m."""
    rows = []
    for i in range(12 * 6 + 1):
        minute = 10 * i
        value = 3.0 if any(a <= minute < b for a, b in at_level) else 1.0
        rows.append({"series_id": "g", "ts": T0 + i * STEP, "value": value})
    return pl.DataFrame(rows, schema_overrides={"ts": TS}).with_columns(pl.lit(2.0).alias("t_red"))


def _preds(warned: dict[int, list[int]]) -> pl.DataFrame:
    """Hourly origins 0..8 h with 1 h and 2 h horizons; ``warned[origin_hour]`` lists the
    horizons (hours) whose probability of red is 0.9 (others 0.1)."""
    rows = []
    for o in range(9):
        for h in (1, 2):
            p = 0.9 if h in warned.get(o, []) else 0.1
            rows.append(
                {"series_id": "g", "origin": T0 + o * HOUR, "ts": T0 + (o + h) * HOUR,
                 "horizon": h * HOUR, "p_red": p, "t_red": 2.0}
            )  # fmt: skip
    return pl.DataFrame(rows, schema_overrides={"origin": TS, "ts": TS})


def test_episodes_are_warned_ahead_at_onset_or_missed_with_their_leads() -> None:
    # three episodes at 3:30, 6:00 and 9:00 (each 40 minutes)
    observed = _observed([(210, 250), (360, 400), (540, 580)])
    # warned ahead of the first from 2:00 (lead 90 min) and from 3:00 (30), at onset of the
    # second (origin 6:00 = onset), the third missed
    preds = _preds({2: [2], 3: [1], 6: [1]})
    one, two = lead_skill(preds, observed, level="red", horizons=[HOUR, 2 * HOUR], probability=0.4)
    assert (one.events, one.ahead, one.at_onset, one.missed) == (3, 1, 1, 1)
    assert one.leads_min == (30.0,)  # within 1 h, only origin 3:00 counts
    assert (two.ahead, two.at_onset, two.missed) == (1, 1, 1)
    assert two.leads_min == (90.0,) and two.median_lead_min == 90.0
    # per origin (not yet at the level): within 2 h, origins 2:00 and 3:00 warned and the
    # water came (hits), 5:00 (6:00 in reach), 7:00 and 8:00 (9:00) missed, no false alarm;
    # origins 4:00 and 6:00 were already at the level: no decision, not counted
    assert (two.table.hits, two.table.misses, two.table.false_alarms) == (2, 3, 0)
    assert two.csi == pytest.approx(2 / 5)


def test_a_warning_for_water_that_never_comes_is_a_false_alarm_and_episodes_too_brief_drop() -> (
    None
):
    observed = _observed([(210, 220)])  # one 10-minute spike
    preds = _preds({0: [1, 2]})
    (skill,) = lead_skill(
        preds, observed, level="red", horizons=[2 * HOUR], probability=0.4,
        min_duration=timedelta(minutes=30),
    )  # fmt: skip
    assert skill.events == 0 and skill.median_lead_min is None
    assert skill.table.false_alarms == 1 and skill.far == 1.0
    # the spike still counts per origin as water within 2 h of 2:00 and 3:00: both missed
    assert skill.table.misses == 2


def test_a_level_that_does_not_apply_is_no_skill_at_all() -> None:
    preds = _preds({}).with_columns(pl.lit(None, pl.Float64).alias("t_red"))
    (skill,) = lead_skill(preds, _observed([]), level="red", horizons=[HOUR], probability=0.4)
    assert skill.events == 0 and skill.table == Contingency(0, 0, 0, 0)
