"""China's official day calendar: holidays, adjusted working days, Spring Festival, school terms.

The holiday table follows the State Council General Office's annual notices on holiday
arrangements (国务院办公厅关于 YYYY 年部分节假日安排的通知, published each November or December
for the following year on gov.cn), together with the special notices that changed a year
afterwards: the 2015 Victory Day holiday (国务院关于中国人民抗日战争暨世界反法西斯战争胜利70周年
纪念日调休放假的通知), the revised 2019 Labour Day arrangement (2019-03-22) and the 2020 Spring
Festival extension (2020-01-27, COVID-19).

Conventions:

* A holiday span is the run of days off the notice announces (``X 至 Y 放假``). Where a
  notice says ``X 放假，与周末连休`` or ``X 放假，Y 补休`` across a weekend, the span is those
  days plus the weekend days between or beside them, i.e. the whole break as people live it.
* An adjusted working day (调休上班) is a weekend day the notice makes a working day.
* An official working day is a Monday-Friday that is not a holiday, or an adjusted working day.
* Days outside :data:`FIRST_YEAR`..:data:`LAST_YEAR` are not holidays and are working days by
  weekday alone; a warning is logged once per process when such days are asked for.

2027 is **provisional**: its notice was not known when this table was written, so 2027 holds
only the statutory days off fixed by the 2024 revision of 全国年节及纪念日放假办法 (New Year's
Day, Spring Festival eve and the first three days of the lunar year, Qingming, 1-2 May, Dragon
Boat, Mid-Autumn, 1-3 October) and no adjusted working days. Replace it when the notice is out.

School terms are **approximate** rules for Fuzhou's primary and secondary schools, not a published
timetable; see :func:`school_terms`.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from functools import cache

import polars as pl

log = logging.getLogger(__name__)

FIRST_YEAR, LAST_YEAR = 2015, 2027
PROVISIONAL_YEARS = frozenset({2027})

NEW_YEAR = "New Year's Day"
SPRING = "Spring Festival"
QINGMING = "Qingming Festival"
LABOUR = "Labour Day"
DRAGON_BOAT = "Dragon Boat Festival"
MID_AUTUMN = "Mid-Autumn Festival"
NATIONAL = "National Day"
NATIONAL_MID_AUTUMN = "National Day and Mid-Autumn Festival"
VICTORY = "Victory Day (70th anniversary)"

# Per notice year: holiday spans (first day, last day, name) and adjusted working days. A span may
# start in the previous calendar year (New Year's Day breaks); it is listed under its notice.
HOLIDAYS: dict[int, tuple[tuple[str, str, str], ...]] = {
    2015: (
        ("2015-01-01", "2015-01-03", NEW_YEAR),
        ("2015-02-18", "2015-02-24", SPRING),
        ("2015-04-04", "2015-04-06", QINGMING),  # 4-5 off, 4-6 in lieu; with the weekend
        ("2015-05-01", "2015-05-03", LABOUR),  # 5-1 off, with the weekend
        ("2015-06-20", "2015-06-22", DRAGON_BOAT),  # 6-20 off, 6-22 in lieu
        ("2015-09-03", "2015-09-05", VICTORY),  # special notice of 2015-05-13
        ("2015-09-27", "2015-09-27", MID_AUTUMN),  # a Sunday; its day in lieu is in 10-01..07
        ("2015-10-01", "2015-10-07", NATIONAL),
    ),
    2016: (
        ("2016-01-01", "2016-01-03", NEW_YEAR),
        ("2016-02-07", "2016-02-13", SPRING),
        ("2016-04-02", "2016-04-04", QINGMING),
        ("2016-04-30", "2016-05-02", LABOUR),  # 5-1 off, 5-2 in lieu; with the Saturday
        ("2016-06-09", "2016-06-11", DRAGON_BOAT),
        ("2016-09-15", "2016-09-17", MID_AUTUMN),
        ("2016-10-01", "2016-10-07", NATIONAL),
    ),
    2017: (
        ("2016-12-31", "2017-01-02", NEW_YEAR),  # 1-1 off, 1-2 in lieu; with the Saturday
        ("2017-01-27", "2017-02-02", SPRING),
        ("2017-04-02", "2017-04-04", QINGMING),
        ("2017-04-29", "2017-05-01", LABOUR),
        ("2017-05-28", "2017-05-30", DRAGON_BOAT),
        ("2017-10-01", "2017-10-08", NATIONAL_MID_AUTUMN),
    ),
    2018: (
        ("2017-12-30", "2018-01-01", NEW_YEAR),
        ("2018-02-15", "2018-02-21", SPRING),
        ("2018-04-05", "2018-04-07", QINGMING),
        ("2018-04-29", "2018-05-01", LABOUR),
        ("2018-06-16", "2018-06-18", DRAGON_BOAT),
        ("2018-09-22", "2018-09-24", MID_AUTUMN),
        ("2018-10-01", "2018-10-07", NATIONAL),
    ),
    2019: (
        ("2018-12-30", "2019-01-01", NEW_YEAR),
        ("2019-02-04", "2019-02-10", SPRING),
        ("2019-04-05", "2019-04-07", QINGMING),
        ("2019-05-01", "2019-05-04", LABOUR),  # as revised on 2019-03-22 (was 5-1 only)
        ("2019-06-07", "2019-06-09", DRAGON_BOAT),
        ("2019-09-13", "2019-09-15", MID_AUTUMN),
        ("2019-10-01", "2019-10-07", NATIONAL),
    ),
    2020: (
        ("2020-01-01", "2020-01-01", NEW_YEAR),
        ("2020-01-24", "2020-02-02", SPRING),  # extended from 1-30 by the notice of 2020-01-27
        ("2020-04-04", "2020-04-06", QINGMING),
        ("2020-05-01", "2020-05-05", LABOUR),
        ("2020-06-25", "2020-06-27", DRAGON_BOAT),
        ("2020-10-01", "2020-10-08", NATIONAL_MID_AUTUMN),
    ),
    2021: (
        ("2021-01-01", "2021-01-03", NEW_YEAR),
        ("2021-02-11", "2021-02-17", SPRING),
        ("2021-04-03", "2021-04-05", QINGMING),
        ("2021-05-01", "2021-05-05", LABOUR),
        ("2021-06-12", "2021-06-14", DRAGON_BOAT),
        ("2021-09-19", "2021-09-21", MID_AUTUMN),
        ("2021-10-01", "2021-10-07", NATIONAL),
    ),
    2022: (
        ("2022-01-01", "2022-01-03", NEW_YEAR),
        ("2022-01-31", "2022-02-06", SPRING),
        ("2022-04-03", "2022-04-05", QINGMING),
        ("2022-04-30", "2022-05-04", LABOUR),
        ("2022-06-03", "2022-06-05", DRAGON_BOAT),
        ("2022-09-10", "2022-09-12", MID_AUTUMN),
        ("2022-10-01", "2022-10-07", NATIONAL),
    ),
    2023: (
        ("2022-12-31", "2023-01-02", NEW_YEAR),
        ("2023-01-21", "2023-01-27", SPRING),
        ("2023-04-05", "2023-04-05", QINGMING),
        ("2023-04-29", "2023-05-03", LABOUR),
        ("2023-06-22", "2023-06-24", DRAGON_BOAT),
        ("2023-09-29", "2023-10-06", NATIONAL_MID_AUTUMN),
    ),
    2024: (
        ("2023-12-30", "2024-01-01", NEW_YEAR),
        ("2024-02-10", "2024-02-17", SPRING),
        ("2024-04-04", "2024-04-06", QINGMING),
        ("2024-05-01", "2024-05-05", LABOUR),
        ("2024-06-08", "2024-06-10", DRAGON_BOAT),
        ("2024-09-15", "2024-09-17", MID_AUTUMN),
        ("2024-10-01", "2024-10-07", NATIONAL),
    ),
    2025: (
        ("2025-01-01", "2025-01-01", NEW_YEAR),
        ("2025-01-28", "2025-02-04", SPRING),
        ("2025-04-04", "2025-04-06", QINGMING),
        ("2025-05-01", "2025-05-05", LABOUR),
        ("2025-05-31", "2025-06-02", DRAGON_BOAT),
        ("2025-10-01", "2025-10-08", NATIONAL_MID_AUTUMN),
    ),
    2026: (
        ("2026-01-01", "2026-01-03", NEW_YEAR),
        ("2026-02-15", "2026-02-23", SPRING),
        ("2026-04-04", "2026-04-06", QINGMING),
        ("2026-05-01", "2026-05-05", LABOUR),
        ("2026-06-19", "2026-06-21", DRAGON_BOAT),
        ("2026-09-25", "2026-09-27", MID_AUTUMN),
        ("2026-10-01", "2026-10-07", NATIONAL),
    ),
    # PROVISIONAL: statutory days only (notice not known when written); no weekend bridging and
    # no adjusted working days. The real notice will lengthen most of these spans.
    2027: (
        ("2027-01-01", "2027-01-01", NEW_YEAR),
        ("2027-02-05", "2027-02-08", SPRING),  # eve (2-5) and lunar days 1-3
        ("2027-04-05", "2027-04-05", QINGMING),
        ("2027-05-01", "2027-05-02", LABOUR),
        ("2027-06-09", "2027-06-09", DRAGON_BOAT),
        ("2027-09-15", "2027-09-15", MID_AUTUMN),
        ("2027-10-01", "2027-10-03", NATIONAL),
    ),
}

# Per notice year: its adjusted working days, as MM-DD in that year or a full date otherwise.
ADJUSTED_WORKDAYS: dict[int, tuple[str, ...]] = {
    2015: ("01-04", "02-15", "02-28", "09-06", "10-10"),
    2016: ("02-06", "02-14", "06-12", "09-18", "10-08", "10-09"),
    2017: ("01-22", "02-04", "04-01", "05-27", "09-30"),
    2018: ("02-11", "02-24", "04-08", "04-28", "09-29", "09-30"),
    2019: ("2018-12-29", "02-02", "02-03", "04-28", "05-05", "09-29", "10-12"),
    # 02-01 was to be worked; the Spring Festival extension of 2020-01-27 made it a day off
    2020: ("01-19", "04-26", "05-09", "06-28", "09-27", "10-10"),
    2021: ("02-07", "02-20", "04-25", "05-08", "09-18", "09-26", "10-09"),
    2022: ("01-29", "01-30", "04-02", "04-24", "05-07", "10-08", "10-09"),
    2023: ("01-28", "01-29", "04-23", "05-06", "06-25", "10-07", "10-08"),
    2024: ("02-04", "02-18", "04-07", "04-28", "05-11", "09-14", "09-29", "10-12"),
    2025: ("01-26", "02-08", "04-27", "09-28", "10-11"),
    2026: ("01-04", "02-14", "02-28", "05-09", "09-20", "10-10"),
    2027: (),  # PROVISIONAL: unknown until the 2027 notice
}

# Lunar New Year's Day (正月初一), 2014-2029: one year either side of the holiday table so that the
# nearest festival is known for every day of it.
SPRING_FESTIVAL: dict[int, str] = {
    2014: "2014-01-31",
    2015: "2015-02-19",
    2016: "2016-02-08",
    2017: "2017-01-28",
    2018: "2018-02-16",
    2019: "2019-02-05",
    2020: "2020-01-25",
    2021: "2021-02-12",
    2022: "2022-02-01",
    2023: "2023-01-22",
    2024: "2024-02-10",
    2025: "2025-01-29",
    2026: "2026-02-17",
    2027: "2027-02-06",
    2028: "2028-01-26",
    2029: "2029-02-13",
}

DAY_TABLE_SCHEMA: dict[str, pl.DataType] = {
    "date": pl.Date(),
    "is_holiday": pl.Boolean(),
    "is_workday": pl.Boolean(),
    "holiday_name": pl.String(),
    "school_term": pl.Boolean(),
    "days_to_spring_festival": pl.Int32(),
}

SPRING_FESTIVAL_CLIP = 30  # days_to_spring_festival is clipped to +-this

_warned: set[str] = set()  # which warnings were logged, so that each is logged once


def _d(text: str) -> date:
    return date.fromisoformat(text)


@cache
def holiday_names() -> dict[date, str]:
    """Every holiday day in the table and its holiday's name."""
    out: dict[date, str] = {}
    for spans in HOLIDAYS.values():
        for first, last, name in spans:
            day, end = _d(first), _d(last)
            while day <= end:
                out[day] = name
                day += timedelta(days=1)
    return out


@cache
def adjusted_workdays() -> frozenset[date]:
    """Every weekend day made a working day (调休上班) in the table."""
    return frozenset(
        _d(d if len(d) == 10 else f"{year}-{d}")
        for year, days in ADJUSTED_WORKDAYS.items()
        for d in days
    )


def golden_weeks() -> list[tuple[date, date]]:
    """The long national breaks (Spring Festival and National Day spans), first and last day."""
    return [
        (_d(first), _d(last))
        for spans in HOLIDAYS.values()
        for first, last, name in spans
        if name in (SPRING, NATIONAL, NATIONAL_MID_AUTUMN)
    ]


def spring_festival(year: int) -> date | None:
    known = SPRING_FESTIVAL.get(year)
    return _d(known) if known else None


def school_terms(year: int) -> list[tuple[date, date]]:
    """Approximate Fuzhou school terms starting in ``year``: spring and autumn, first and last day.

    Approximate rules (Fuzhou's primary and secondary schools; not a published timetable):

    * spring term: the Monday nearest the later of 10 February and 12 days after the Spring
      Festival (about the Lantern Festival), to 4 July; summer vacation from 5 July;
    * autumn term: 1 September to the earlier of 22 January and 10 days before the next Spring
      Festival; winter vacation from the day after.

    Weekends and holidays inside a term count as term time: this is the term, not attendance.
    Years without a known Spring Festival take 5 February as its date.
    """
    sf = spring_festival(year) or date(year, 2, 5)
    sf_next = spring_festival(year + 1) or date(year + 1, 2, 5)
    start = max(date(year, 2, 10), sf + timedelta(days=12))
    wd = start.weekday()
    start += timedelta(days=-wd if wd <= 3 else 7 - wd)  # the nearest Monday
    autumn_end = min(date(year + 1, 1, 22), sf_next - timedelta(days=10))
    return [(start, date(year, 7, 4)), (date(year, 9, 1), autumn_end)]


def _warn_once(start: date, end: date) -> None:
    if "outside" not in _warned and (start.year < FIRST_YEAR or end.year > LAST_YEAR):
        _warned.add("outside")
        log.warning(
            "calendar dates %s..%s reach outside the holiday table (%d-%d): there, no day is a "
            "holiday and working days follow the weekday",
            start,
            end,
            FIRST_YEAR,
            LAST_YEAR,
        )
    provisional = sorted(y for y in PROVISIONAL_YEARS if start.year <= y <= end.year)
    if provisional and "provisional" not in _warned:
        _warned.add("provisional")
        log.warning(
            "the holiday table for %s is provisional (statutory days only, no adjusted "
            "working days) until the State Council's notice is added",
            ", ".join(map(str, provisional)),
        )


@cache
def _holiday_frame() -> pl.DataFrame:
    names = holiday_names()
    return pl.DataFrame(
        {"date": list(names), "holiday_name": list(names.values())},
        schema={"date": pl.Date, "holiday_name": pl.String},
    )


@cache
def _spring_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {"spring_festival": [_d(d) for d in SPRING_FESTIVAL.values()]},
        schema={"spring_festival": pl.Date},
    ).sort("spring_festival")


def _term_frame(first_year: int, last_year: int) -> pl.DataFrame:
    spans = [s for y in range(first_year, last_year + 1) for s in school_terms(y)]
    return pl.DataFrame(
        {"term_first": [a for a, _ in spans], "term_last": [b for _, b in spans]},
        schema={"term_first": pl.Date, "term_last": pl.Date},
    ).sort("term_first")


def day_table(start: date, end: date) -> pl.DataFrame:
    """One row per local date from ``start`` to ``end`` inclusive.

    Columns: ``date``, ``is_holiday``, ``is_workday`` (official working day), ``holiday_name``
    (null on ordinary days), ``school_term`` (approximate) and ``days_to_spring_festival``
    (days until the nearest Spring Festival, negative after it, clipped to +-30).
    """
    if end < start:
        return _empty_table()
    _warn_once(start, end)
    days = pl.DataFrame(
        {"date": pl.date_range(start, end, "1d", eager=True)}, schema={"date": pl.Date}
    )
    workdays = pl.Series(sorted(adjusted_workdays()), dtype=pl.Date).implode()
    weekday = pl.col("date").dt.weekday()  # Monday == 1
    out = (
        days.join(_holiday_frame(), on="date", how="left", maintain_order="left")
        .join_asof(_spring_frame(), left_on="date", right_on="spring_festival", strategy="nearest")
        .join_asof(
            _term_frame(start.year - 1, end.year),
            left_on="date",
            right_on="term_first",
            strategy="backward",
        )
    )
    is_holiday = pl.col("holiday_name").is_not_null()
    return out.select(
        "date",
        is_holiday.alias("is_holiday"),
        (((weekday <= 5) & ~is_holiday) | pl.col("date").is_in(workdays)).alias("is_workday"),
        "holiday_name",
        (pl.col("term_last").is_not_null() & (pl.col("date") <= pl.col("term_last"))).alias(
            "school_term"
        ),
        (pl.col("spring_festival") - pl.col("date"))
        .dt.total_days()
        .clip(-SPRING_FESTIVAL_CLIP, SPRING_FESTIVAL_CLIP)
        .cast(pl.Int32)
        .alias("days_to_spring_festival"),
    )


def _empty_table() -> pl.DataFrame:
    return pl.DataFrame(schema=DAY_TABLE_SCHEMA)


def lookup(dates: pl.Series, column: str) -> pl.Series:
    """``column`` of :func:`day_table` for each date of ``dates`` (nulls stay null), in order."""
    valid = dates.drop_nulls()
    if valid.is_empty():
        return pl.Series(dates.name, [None] * dates.len(), dtype=DAY_TABLE_SCHEMA[column])
    first, last = valid.min(), valid.max()
    assert isinstance(first, date) and isinstance(last, date)
    table = day_table(first, last)
    return (
        dates.to_frame("date")
        .join(table.select("date", column), on="date", how="left", maintain_order="left")
        .get_column(column)
        .alias(dates.name)
    )
