"""Builders shared by the alerts tests: ponding assessments at fixed times and probabilities."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alerts import PONDING_CM, Assessment, Level, LevelRule

T0 = datetime(2024, 7, 31, 6, 0, tzinfo=UTC)

QUIET = {"blue": 0.1, "yellow": 0.02, "orange": 0.0, "red": 0.0}
BLUE = {"blue": 0.8, "yellow": 0.3, "orange": 0.1, "red": 0.0}
YELLOW = {"blue": 0.95, "yellow": 0.7, "orange": 0.3, "red": 0.05}
ORANGE = {"blue": 0.97, "yellow": 0.9, "orange": 0.72, "red": 0.2}
RED = {"blue": 1.0, "yellow": 0.98, "orange": 0.9, "red": 0.8}


def ponding(
    probabilities: dict[str, float],
    *,
    series_id: str = "pond-wuyi-underpass",
    area_id: str = "gulou",
    origin: datetime = T0,
    peak_value: float = 16.0,
    lead: timedelta = timedelta(minutes=100),
    high_value: float | None = None,
    label_en: str | None = None,
    rule: LevelRule = PONDING_CM,
) -> Assessment:
    """A waterlogging assessment at the Wuyi Road underpass in Gulou district."""
    return Assessment(
        domain="waterlogging",
        series_id=series_id,
        area_id=area_id,
        origin=origin,
        probabilities={Level.parse(k): v for k, v in probabilities.items()},
        peak_value=peak_value,
        peak_ts=origin + lead,
        unit="cm",
        rule=rule,
        label="鼓楼区 五一路下穿通道",
        observed=3.0,
        high_value=high_value,
        label_en=label_en,
    )
