"""The backtest's warnings: the service's engine replayed over forecasts, and their skill."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from features import load_task
from training import replay_warnings
from training.metrics import warning_skill

T0 = datetime(2025, 7, 1, 8, tzinfo=UTC)
MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)
TS = pl.Datetime("us", "UTC")


def _at(hhmm: str) -> datetime:
    h, m = (int(x) for x in hhmm.split(":"))
    return T0.replace(hour=h, minute=m)


def _timeline(rows: list[tuple[str, str, str, str, int]]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {"warning_id": w, "area_id": a, "at": _at(t), "action": act, "level": lv}
            for w, a, t, act, lv in rows
        ],
        schema={"warning_id": pl.String, "area_id": pl.String, "at": TS, "action": pl.String,
                "level": pl.Int8},
    )  # fmt: skip


def _observed(readings: dict[str, dict[str, float]]) -> pl.DataFrame:
    """Every area on a 10-minute grid from 08:00 to 18:00, 0 cm except the readings given."""
    rows = []
    for area in ("A", "B", "C"):
        ts = T0
        while ts <= _at("18:00"):
            value = readings.get(area, {}).get(f"{ts:%H:%M}", 0.0)
            rows.append({"area_id": area, "ts": ts, "value": value})
            ts += 10 * MIN
    return pl.DataFrame(rows, schema_overrides={"ts": TS}).with_columns(
        pl.lit(5.0).alias("t_blue"), pl.lit(10.0).alias("t_yellow")
    )


def _span(start: str, end: str, value: float) -> dict[str, float]:
    out, ts = {}, _at(start)
    while ts <= _at(end):
        out[f"{ts:%H:%M}"] = value
        ts += 10 * MIN
    return out


def test_warnings_are_judged_per_area_ahead_late_false_flapping_and_brief() -> None:
    timeline = _timeline(
        [
            ("w1", "A", "10:00", "opened", 2),
            ("w1", "A", "12:00", "deescalated", 1),
            ("w1", "A", "13:00", "closed", 0),
            ("w1", "A", "13:30", "reopened", 1),  # back within the quiet hour: a flap
            ("w1", "A", "14:00", "closed", 0),
            ("w2", "C", "09:00", "opened", 1),  # no water ever came in C
            ("w2", "C", "10:00", "closed", 0),
        ]
    )
    observed = _observed(
        {
            "A": _span("10:30", "12:30", 7.0) | _span("11:00", "11:30", 12.0),
            # B: water nobody warned of, then one spiked reading
            "B": _span("15:00", "15:20", 6.0) | {"17:00": 6.0},
        }
    )
    skill = warning_skill(
        timeline,
        observed,
        levels=["blue", "yellow"],
        below=False,
        quiet=HOUR,
        start=T0,
        end=_at("18:00"),
        min_duration=20 * MIN,
    )
    blue, yellow = skill["blue"], skill["yellow"]
    assert (blue.events, blue.detected, blue.ahead, blue.late, blue.brief) == (2, 1, 1, 0, 1)
    assert (blue.warnings, blue.false_alarms, blue.flaps) == (3, 2, 1)
    assert blue.median_lead_min == 30.0
    # A for 3 h 30 min and C for 1 h of three areas' 10 hours
    assert blue.warned_share == pytest.approx(4.5 / 30)
    assert (blue.pod, blue.far, blue.csi) == pytest.approx((0.5, 2 / 3, 0.25))
    assert (yellow.events, yellow.detected, yellow.warnings, yellow.false_alarms) == (1, 1, 1, 0)
    assert yellow.median_lead_min == 60.0 and yellow.to_dict()["pod"] == 1.0


def test_a_warning_reached_only_during_the_event_is_late_not_detected() -> None:
    timeline = _timeline([("w", "A", "11:00", "opened", 1), ("w", "A", "12:00", "closed", 0)])
    observed = _observed({"A": _span("10:30", "11:30", 7.0)})
    (skill,) = warning_skill(
        timeline, observed, levels=["blue"], below=False, quiet=HOUR, start=T0, end=_at("18:00")
    ).values()
    assert (skill.events, skill.detected, skill.late, skill.false_alarms) == (1, 0, 1, 0)
    assert skill.pod == 0.0 and skill.median_lead_min is None


def _forecast(probabilities: dict[str, list[float]]) -> pl.DataFrame:
    """Hourly origins from 08:00, one 1-hour horizon, each target's blue probability."""
    rows = []
    for sid, ps in probabilities.items():
        for i, p in enumerate(ps):
            origin = T0 + i * HOUR
            rows.append(
                {"series_id": sid, "origin": origin, "ts": origin + HOUR, "horizon": HOUR,
                 "yhat": 8.0 * p, "p_blue": p, "p_yellow": 0.0, "p_orange": 0.0, "p_red": 0.0,
                 "t_blue": 5.0, "t_yellow": 10.0, "t_orange": 15.0, "t_red": 20.0}
            )  # fmt: skip
    return pl.DataFrame(rows, schema_overrides={"origin": TS, "ts": TS})


def test_the_replay_groups_targets_per_area_and_holds_like_the_service() -> None:
    task = load_task("waterlogging")
    areas = pl.DataFrame({"series_id": ["g1", "g2", "t1"], "area_id": ["gulou"] * 2 + ["taijiang"]})
    forecast = _forecast(
        {
            "g1": [0.0, 0.9, 0.9, 0.0, 0.0],
            "g2": [0.0, 0.0, 0.8, 0.0, 0.0],
            "t1": [0.0, 0.1, 0.2, 0.0, 0.0],  # below the rule's 0.4: never warned
        },
    )
    timeline = replay_warnings(forecast, task, areas)
    assert timeline["area_id"].unique().to_list() == ["gulou"]  # one warning, two targets
    assert timeline.select("action", "level").rows() == [("opened", 1), ("closed", 0)]
    assert timeline["at"].to_list() == [T0 + HOUR, T0 + 3 * HOUR]
