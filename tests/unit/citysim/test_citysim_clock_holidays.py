"""The simulator's day kinds come from features.holidays: golden weeks, holidays, make-up days."""

from __future__ import annotations

import numpy as np

from citysim.clock import GOLDEN, HOLIDAY, WEEKEND, WORKDAY, day_kinds


def kinds(*days: str) -> list[int]:
    return day_kinds(np.array(days, dtype="datetime64[D]")).tolist()


def test_2025_and_2026_day_kinds() -> None:
    assert kinds("2025-01-26", "2025-01-27", "2025-01-28", "2025-02-04", "2025-02-08") == [
        WORKDAY,  # a make-up Sunday
        WORKDAY,
        GOLDEN,  # Spring Festival
        GOLDEN,
        WORKDAY,  # a make-up Saturday
    ]
    assert kinds("2025-04-05", "2025-05-05", "2025-10-08", "2025-10-11", "2025-10-12") == [
        HOLIDAY,
        HOLIDAY,
        GOLDEN,
        WORKDAY,
        WEEKEND,
    ]
    assert kinds("2026-02-23", "2026-02-28", "2026-09-25", "2026-10-07") == [
        GOLDEN,
        WORKDAY,
        HOLIDAY,
        GOLDEN,
    ]


def test_other_years_use_the_official_table_and_fixed_dates_beyond_it() -> None:
    # 2024 from the State Council's notice; 2031 from the fixed-date fallback
    assert kinds("2024-02-10", "2024-02-18", "2024-06-10") == [GOLDEN, WORKDAY, HOLIDAY]
    assert kinds("2031-05-02", "2031-10-06", "2031-06-10") == [HOLIDAY, HOLIDAY, WORKDAY]
