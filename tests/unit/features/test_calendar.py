"""The Chinese day calendar (features.holidays) and the calendar features read from it."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from features import holidays
from features.calendar import CALENDAR_FEATURES, calendar_columns, with_calendar
from features.day_calendar import DayCalendar
from features.errors import ConfigError
from features.tasks import parse_task


def days(first: str, last: str) -> list[date]:
    a, b = date.fromisoformat(first), date.fromisoformat(last)
    return [a + timedelta(days=i) for i in range((b - a).days + 1)]


def table(first: str, last: str) -> dict[date, dict[str, Any]]:
    frame = holidays.day_table(date.fromisoformat(first), date.fromisoformat(last))
    return {row["date"]: row for row in frame.iter_rows(named=True)}


@pytest.fixture(autouse=True)
def _fresh_warnings() -> None:
    holidays._warned.clear()


def test_day_table_has_one_row_per_date_and_its_schema() -> None:
    frame = holidays.day_table(date(2024, 12, 30), date(2025, 1, 5))
    assert frame.schema == pl.Schema(holidays.DAY_TABLE_SCHEMA)
    assert frame["date"].to_list() == days("2024-12-30", "2025-01-05")
    assert holidays.day_table(date(2025, 1, 5), date(2025, 1, 4)).is_empty()


def test_2025_spring_festival_and_its_make_up_working_days() -> None:
    t = table("2025-01-20", "2025-02-15")
    for d in days("2025-01-28", "2025-02-04"):
        assert t[d]["is_holiday"] and not t[d]["is_workday"]
        assert t[d]["holiday_name"] == holidays.SPRING
    for d in (date(2025, 1, 26), date(2025, 2, 8)):  # a Sunday and a Saturday worked
        assert d.weekday() >= 5
        assert t[d]["is_workday"] and not t[d]["is_holiday"]
        assert t[d]["holiday_name"] is None
    assert t[date(2025, 1, 27)]["is_workday"]  # an ordinary Monday
    assert not t[date(2025, 2, 9)]["is_workday"]  # an ordinary Sunday


def test_2024_national_day() -> None:
    t = table("2024-09-28", "2024-10-13")
    for d in days("2024-10-01", "2024-10-07"):
        assert t[d]["is_holiday"] and t[d]["holiday_name"] == holidays.NATIONAL
    for d in (date(2024, 9, 29), date(2024, 10, 12)):
        assert t[d]["is_workday"] and not t[d]["is_holiday"]
    assert not t[date(2024, 10, 8)]["is_holiday"] and t[date(2024, 10, 8)]["is_workday"]


def test_2025_national_day_and_mid_autumn() -> None:
    t = table("2025-09-27", "2025-10-12")
    for d in days("2025-10-01", "2025-10-08"):
        assert t[d]["is_holiday"] and not t[d]["is_workday"]
        assert t[d]["holiday_name"] == holidays.NATIONAL_MID_AUTUMN
    for d in (date(2025, 9, 28), date(2025, 10, 11)):
        assert t[d]["is_workday"] and not t[d]["is_holiday"]
    assert not t[date(2025, 10, 12)]["is_workday"]


def test_every_year_of_the_table_is_consistent() -> None:
    names = holidays.holiday_names()
    made_up = holidays.adjusted_workdays()
    assert not (set(names) & made_up)
    assert all(d.weekday() >= 5 for d in made_up)  # only weekends are made working days
    for year in range(holidays.FIRST_YEAR, holidays.LAST_YEAR + 1):
        in_year = {n for d, n in names.items() if d.year == year}
        assert {holidays.NEW_YEAR, holidays.SPRING, holidays.QINGMING} <= in_year, year
        assert any(n.startswith(holidays.NATIONAL) for n in in_year), year
        sf = holidays.spring_festival(year)
        assert sf is not None and names.get(sf) == holidays.SPRING, year


def test_outside_the_table_days_follow_the_weekday_and_warn_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="features.holidays"):
        t = table("2030-09-30", "2030-10-06")  # National Day 2030: not in the table
        holidays.day_table(date(2012, 1, 1), date(2012, 1, 3))
    for d, row in t.items():
        assert not row["is_holiday"] and row["holiday_name"] is None
        assert row["is_workday"] == (d.weekday() < 5)
    outside = [r for r in caplog.records if "outside the holiday table" in r.message]
    assert len(outside) == 1


def test_days_to_spring_festival_is_signed_and_clipped() -> None:
    t = table("2024-12-01", "2025-03-15")
    sf = date(2025, 1, 29)
    assert t[sf]["days_to_spring_festival"] == 0
    assert t[date(2025, 1, 19)]["days_to_spring_festival"] == 10  # ahead: positive
    assert t[date(2025, 2, 8)]["days_to_spring_festival"] == -10  # past: negative
    assert t[date(2024, 12, 1)]["days_to_spring_festival"] == 30
    assert t[date(2025, 3, 15)]["days_to_spring_festival"] == -30
    assert all(abs(r["days_to_spring_festival"]) <= 30 for r in t.values())


@pytest.mark.parametrize(
    ("day", "term"),
    [
        (date(2025, 4, 15), True),  # spring term
        (date(2025, 7, 20), False),  # summer vacation
        (date(2025, 8, 31), False),
        (date(2025, 9, 1), True),  # autumn term starts
        (date(2025, 12, 20), True),
        (date(2026, 2, 5), False),  # winter vacation (Spring Festival 2026-02-17)
        (date(2026, 3, 10), True),
        (date(2025, 1, 29), False),  # Spring Festival itself
    ],
)
def test_school_terms_on_a_few_dates(day: date, term: bool) -> None:
    assert table(day.isoformat(), day.isoformat())[day]["school_term"] is term


def ts_frame(*stamps: datetime) -> pl.DataFrame:
    return pl.DataFrame({"ts": list(stamps)}, schema={"ts": pl.Datetime("us", "UTC")})


def test_the_local_date_decides_the_day() -> None:
    # 2025-01-27T16:30Z is 2025-01-28 00:30 in Shanghai: the first day of the Spring Festival
    frame = ts_frame(
        datetime(2025, 1, 27, 16, 30, tzinfo=UTC), datetime(2025, 1, 27, 15, 59, tzinfo=UTC)
    )
    out = frame.with_columns(
        calendar_columns(("holiday", "workday", "spring_festival", "hour", "minute_of_day"))
    )
    first, second = out.iter_rows(named=True)
    assert (first["cal_holiday"], first["cal_workday"], first["cal_spring_festival"]) == (1, 0, 1)
    assert (first["cal_hour"], first["cal_minute_of_day"]) == (0, 30)
    assert (second["cal_holiday"], second["cal_workday"], second["cal_spring_festival"]) == (
        0,
        1,
        2,
    )
    assert (second["cal_hour"], second["cal_minute_of_day"]) == (23, 23 * 60 + 59)


def test_all_features_are_int32_keep_row_order_and_nulls() -> None:
    names = tuple(sorted(CALENDAR_FEATURES))
    stamps = [datetime(2025, 10, 8, 15, 55, tzinfo=UTC), None, datetime(2024, 10, 1, 2, tzinfo=UTC)]
    frame = pl.DataFrame({"ts": stamps}, schema={"ts": pl.Datetime("us", "UTC")})
    out = with_calendar(frame, names)
    assert out.lazy().collect().equals(frame.lazy().with_columns(calendar_columns(names)).collect())
    assert all(out.schema[f"cal_{n}"] == pl.Int32 for n in names)
    late, missing, early = out.iter_rows(named=True)
    assert all(missing[f"cal_{n}"] is None for n in names)
    # 2025-10-08 23:55 local (Wednesday, last day of the break), 2024-10-01 10:00 (Tuesday)
    assert (late["cal_holiday"], late["cal_workday"], late["cal_hour_of_week"]) == (
        1,
        0,
        2 * 24 + 23,
    )
    assert (early["cal_holiday"], early["cal_hour_of_week"], early["cal_month"]) == (1, 24 + 10, 10)


def test_five_minute_steps_get_distinct_minutes_of_day() -> None:
    stamps = pl.datetime_range(
        datetime(2025, 3, 2, 16, tzinfo=UTC),
        datetime(2025, 3, 3, 15, 55, tzinfo=UTC),
        "5m",
        time_zone="UTC",
        eager=True,
    )
    out = with_calendar(pl.DataFrame({"ts": stamps}), ("minute_of_day",))
    assert out["cal_minute_of_day"].to_list() == list(range(0, 24 * 60, 5))


def _raw_task(features: dict) -> dict:
    return {
        "name": "t",
        "domain": "traffic",
        "target": {"signal": "speed_kmh"},
        "frequency": "5m",
        "horizons": ["15m"],
        "features": features,
        "model": {"family": "lightgbm"},
    }


def test_an_unknown_calendar_feature_is_a_config_error_listing_the_allowed() -> None:
    raw = _raw_task({"calendar": ["hour", "holiday", "lunar_phase"]})
    with pytest.raises(ConfigError) as err:
        parse_task(raw)
    assert "lunar_phase" in str(err.value) and "features.calendar" in str(err.value)
    for name in ("holiday", "workday", "school_term", "spring_festival", "hour_of_week"):
        assert name in str(err.value)
    raw["features"]["calendar"] = ["holiday", "workday", "minute_of_day", "hour_of_week"]
    assert parse_task(raw).features.calendar == tuple(raw["features"]["calendar"])


def test_the_calendar_reads_the_task_zone_across_daylight_saving() -> None:
    # 2016-03-13 is the US spring-forward day: 13:00 UTC is 07:00 CST before it and 08:00 CDT
    # on the day after, while Shanghai's clock (no DST) reads 21:00 on both
    stamps = pl.Series(
        "ts", [datetime(2016, 3, 12, 13, tzinfo=UTC), datetime(2016, 3, 14, 13, tzinfo=UTC)]
    )
    chicago = with_calendar(pl.DataFrame({"ts": stamps}), ("hour",), tz="America/Chicago")
    shanghai = with_calendar(pl.DataFrame({"ts": stamps}), ("hour",))
    assert chicago["cal_hour"].to_list() == [7, 8]
    assert shanghai["cal_hour"].to_list() == [21, 21]


def test_an_unknown_time_zone_is_a_config_error_with_its_key() -> None:
    raw = _raw_task({"timezone": "Mars/Olympus_Mons"})
    with pytest.raises(ConfigError) as err:
        parse_task(raw)
    assert "features.timezone" in str(err.value)
    assert "Mars/Olympus_Mons" in str(err.value)
    assert parse_task({**raw, "features": {}}).features.timezone == "Asia/Shanghai"


def _flags(days: DayCalendar, stamps: list[str], tz: str = "UTC") -> list[tuple[int, int]]:
    """(holiday, workday) at noon local time of each date, read through the feature columns."""
    zone = ZoneInfo(tz)
    ts = [datetime.fromisoformat(f"{d}T12:00").replace(tzinfo=zone) for d in stamps]
    frame = pl.DataFrame({"ts": ts}).with_columns(pl.col("ts").dt.convert_time_zone("UTC"))
    out = with_calendar(frame, ("holiday", "workday"), tz=tz, days=days)
    return list(zip(out["cal_holiday"], out["cal_workday"], strict=True))


def test_another_countrys_holidays_and_weekend_come_from_the_holidays_package() -> None:
    # 2024-07-04 Independence Day (a Thursday), 2024-07-06 a Saturday, 2024-07-10 a Wednesday
    us = DayCalendar("US")
    assert _flags(us, ["2024-07-04", "2024-07-06", "2024-07-10"], "America/New_York") == [
        (1, 0),
        (0, 0),
        (0, 1),
    ]
    # China's table says nothing of the 4th of July, and works the Wednesday too
    assert _flags(DayCalendar(), ["2024-07-04", "2024-07-10"])[0] == (0, 1)
    # Israel rests on Friday and Saturday, works on Sunday (2024-07-05 .. 07)
    assert [
        w for _, w in _flags(DayCalendar("IL"), ["2024-07-05", "2024-07-06", "2024-07-07"])
    ] == [
        0,
        0,
        1,
    ]
    # a subdivision's own day: Epiphany (2025-01-06, a Monday) in Bavaria, not in Berlin
    assert _flags(DayCalendar("DE", "BY"), ["2025-01-06"]) == [(1, 0)]
    assert _flags(DayCalendar("DE", "BE"), ["2025-01-06"]) == [(0, 1)]


def test_a_config_adds_days_off_and_working_days_to_any_calendar() -> None:
    # a typhoon day off on a Wednesday, and a Saturday worked, in China and in the US
    off, on = date(2025, 9, 17), date(2025, 9, 20)
    for country in ("CN", "US"):
        days = DayCalendar(country, extra_holidays=(off,), extra_workdays=(on,))
        assert _flags(days, ["2025-09-17", "2025-09-20", "2025-09-18"]) == [
            (1, 0),
            (0, 1),
            (0, 1),
        ]
    # China's make-up working days stay exactly as its table has them (2025-01-26, a Sunday)
    assert _flags(DayCalendar(), ["2025-01-26"], "Asia/Shanghai") == [(0, 1)]


def test_a_task_names_its_country_and_a_wrong_one_is_refused_saying_what_is_known() -> None:
    raw = _raw_task(
        {
            "calendar": ["hour", "holiday", "workday"],
            "timezone": "America/New_York",
            "country": "US",
            "subdivision": "NY",
            "extra_holidays": ["2024-12-24"],
        }
    )
    task = parse_task(raw)
    assert task.features.days == DayCalendar("US", "NY", (date(2024, 12, 24),), ())
    assert parse_task(_raw_task({})).features.days == DayCalendar("CN")
    refused = {
        "country": ({"country": "ZZ"}, "unknown country 'ZZ'"),
        "subdivision": ({"country": "US", "subdivision": "XX"}, "US has no subdivision 'XX'"),
        "china-only": (
            {"country": "GB", "calendar": ["holiday", "spring_festival"]},
            "come from China's calendar",
        ),
        "china subdivision": ({"subdivision": "FJ"}, "leave `subdivision` out"),
        "both": (
            {"extra_holidays": ["2025-01-02"], "extra_workdays": ["2025-01-02"]},
            "both a holiday and a working day",
        ),
    }
    for case, (features, said) in refused.items():
        with pytest.raises(ConfigError) as err:
            parse_task(_raw_task(features))
        assert said in str(err.value), case
        assert "features" in str(err.value), case
