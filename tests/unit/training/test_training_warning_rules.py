"""From forecasts to assessments: the unforecast surge read from counts against forecasts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from alerts import Level
from features import load_task
from training import WarningRules

T0 = datetime(2025, 7, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
TS = pl.Datetime("us", "UTC")


def _outcomes(observed: list[float | None], q90: float = 5.0) -> pl.DataFrame:
    """Each hour forecast twice (1 h and 2 h ahead; the 2 h one with a higher bound) and its
    observed count."""
    rows = []
    for i, y in enumerate(observed):
        ts = T0 + (i + 2) * HOUR
        rows.append({"series_id": "s", "origin": ts - 2 * HOUR, "ts": ts, "y": y, "q90": 99.0})
        rows.append({"series_id": "s", "origin": ts - HOUR, "ts": ts, "y": y, "q90": q90})
    return pl.DataFrame(rows, schema_overrides={"origin": TS, "ts": TS})


def test_an_unforecast_surge_needs_consecutive_hours_above_the_latest_forecasts_bound() -> None:
    rules = WarningRules(load_task("hotline"))
    assert rules.unforecast_hours == 2
    # above at hours 0-2, below at 3, above at 4, missing at 5, above at 6-7
    found = rules.unforecast(_outcomes([9, 8, 7, 1, 9, None, 9, 9]))
    hours = [int((ts - T0) / HOUR) - 2 for ts in found["ts"]]
    assert hours == [1, 2, 7]
    assert found["unforecast_hours"].to_list() == [2, 3, 2]
    assert found["unforecast_bound"].to_list() == [5.0, 5.0, 5.0]  # the latest forecast's


def test_a_surge_seen_is_certain_at_every_level_it_reached_and_noise_below_them_is_none() -> None:
    rules = WarningRules(load_task("hotline"))
    row = {
        "series_id": "hotline:gulou:water_supply", "area_id": "gulou", "origin": T0,
        "p_blue": 0.1, "p_yellow": 0.0, "p_orange": 0.0, "p_red": 0.0,
        "t_blue": 6.0, "t_yellow": 8.0, "t_orange": 12.0, "t_red": 16.0,
        "peak_value": 3.0, "peak_ts": T0 + HOUR,
    }  # fmt: skip
    summary = pl.DataFrame([row], schema_overrides={"origin": TS, "peak_ts": TS})
    surges = pl.DataFrame(
        [{"series_id": row["series_id"], "ts": T0, "observed": 9.0, "unforecast_bound": 4.0,
          "unforecast_hours": 2}],
        schema_overrides={"ts": TS},
    )  # fmt: skip
    (plain,) = rules.assessments(summary)
    (seen,) = rules.assessments(rules.with_unforecast(summary, surges))
    assert plain.unforecast_hours == 0 and plain.probabilities[Level.BLUE] == 0.1
    assert seen.unforecast_hours == 2 and seen.unforecast_bound == 4.0 and seen.observed == 9.0
    assert seen.probabilities == {
        Level.BLUE: 1.0, Level.YELLOW: 1.0, Level.ORANGE: 0.0, Level.RED: 0.0
    }  # fmt: skip
    # three tickets an hour above a forecast of one, in a quiet series, is not a surge: below
    # the lowest level it warns nothing and its text says nothing of a surge
    quiet = surges.with_columns(observed=pl.lit(5.0))
    (noise,) = rules.assessments(rules.with_unforecast(summary, quiet))
    assert noise.unforecast_hours == 0 and noise.probabilities[Level.BLUE] == 0.1


def test_the_summary_says_when_each_level_comes_and_how_bad_the_band_gets() -> None:
    """Per level, the first time its probability reaches the rule's (0.4 for ponding), else
    the time it is highest; the band's worst is the highest 90 % quantile over the path,
    whatever the median does (here it stays dry)."""
    task = load_task("waterlogging")
    rules = WarningRules(task)
    rows = [
        # ts, p_blue, p_yellow, yhat, q90
        (T0 + 1 * HOUR, 0.2, 0.05, 0.0, 3.0),
        (T0 + 2 * HOUR, 0.45, 0.1, 0.0, 8.0),
        (T0 + 3 * HOUR, 0.6, 0.3, 0.0, 12.0),
        (T0 + 4 * HOUR, 0.3, 0.35, 0.0, 6.0),
    ]
    forecast = pl.DataFrame(
        [
            {
                "series_id": "p",
                "area_id": "gulou",
                "origin": T0,
                "ts": ts,
                "horizon": ts - T0,
                "p_blue": pb,
                "p_yellow": py,
                "t_blue": 5.0,
                "t_yellow": 10.0,
                "yhat": y,
                "q10": 0.0,
                "q50": y,
                "q90": q,
            }
            for ts, pb, py, y, q in rows
        ],
        schema_overrides={"origin": TS, "ts": TS},
    )
    summary = rules.summary(forecast)
    (a,) = rules.assessments(summary, {"p": "鼓楼区 五一路下穿通道"}, {"p": "Gulou Wuyi Rd"})
    assert a.level_ts[Level.BLUE] == T0 + 2 * HOUR  # first at 0.4 or more
    assert a.level_ts[Level.YELLOW] == T0 + 4 * HOUR  # never at 0.4: when it is highest
    assert a.high_value == 12.0 and a.peak_value == 0.0
    assert a.place_in("en") == "Gulou Wuyi Rd" and a.place_in("zh") == "鼓楼区 五一路下穿通道"
    # the shipped config's action texts reach the rule; a current config's replace them
    assert a.rule.actions[Level.BLUE][0].startswith("加强易涝点巡查")
    edited = task.model_copy(deep=True)
    assert edited.warning is not None
    levels = [
        lv.model_copy(update={"action": lv.action.model_copy(update={"zh": "新的处置要求"})})
        if lv.action is not None
        else lv
        for lv in edited.warning.levels
    ]
    edited = edited.model_copy(
        update={"warning": edited.warning.model_copy(update={"levels": tuple(levels)})}
    )
    renamed = WarningRules(task, texts=edited)
    (b,) = renamed.assessments(renamed.summary(forecast))
    assert b.rule.actions[Level.BLUE][0] == "新的处置要求"
