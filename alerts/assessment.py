"""The engine's input: what one scoring says about one target.

The serving layer builds an :class:`Assessment` from a forecast (the exceedance probability of
each level's threshold, maxed over the horizons, and the peak median) so that the warning engine
needs nothing from the model packages: only this small, validated record.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from alerts.levels import Level, LevelRule, check_probabilities
from features import DataError


@dataclass(frozen=True)
class Assessment:
    """One target at one scoring origin.

    Invariants (checked on construction, so a bad record fails before anything is written):
    timestamps are timezone-aware and stored in UTC, probabilities are in [0, 1] and keyed by
    :class:`Level`, and ``peak_value`` is finite.
    """

    domain: str
    series_id: str
    area_id: str | None
    origin: datetime
    probabilities: dict[Level, float]
    peak_value: float
    peak_ts: datetime
    unit: str
    rule: LevelRule
    label: str | None = None
    observed: float | None = None
    # an unforecast surge: ``observed`` has stood above the forecasts' upper bound
    # ``unforecast_bound`` for ``unforecast_hours`` grid times in a row
    unforecast_hours: int = 0
    unforecast_bound: float | None = None
    # the target's name in English (``label`` is the Chinese one)
    label_en: str | None = None
    # per level, when its probability first reaches the rule's (else when it is highest)
    level_ts: Mapping[Level, datetime] = field(default_factory=dict)
    # the bad end of the forecast's 10-90 % band over the path: the highest 90 % quantile (the
    # lowest 10 % one where low is bad), what "at worst" means in a message
    high_value: float | None = None

    def __post_init__(self) -> None:
        for name in ("domain", "series_id"):
            if not getattr(self, name):
                raise DataError("must not be empty", column=name)
        object.__setattr__(self, "origin", to_utc(self.origin, "origin"))
        object.__setattr__(self, "peak_ts", to_utc(self.peak_ts, "peak_ts"))
        object.__setattr__(self, "probabilities", check_probabilities(self.probabilities))
        if not math.isfinite(self.peak_value):
            raise DataError(f"{self.peak_value} is not a finite number", column="peak_value")
        if self.observed is not None and not math.isfinite(self.observed):
            raise DataError(f"{self.observed} is not a finite number", column="observed")
        if self.high_value is not None and not math.isfinite(self.high_value):
            raise DataError(f"{self.high_value} is not a finite number", column="high_value")
        object.__setattr__(
            self,
            "level_ts",
            {Level.parse(k): to_utc(v, "level_ts") for k, v in self.level_ts.items()},
        )
        if self.unforecast_hours and (self.observed is None or self.unforecast_bound is None):
            raise DataError(
                "an unforecast surge needs the observed value and the bound it exceeded",
                column="unforecast_bound",
            )

    @property
    def place(self) -> str:
        """The human name of the target: its label, else its area and series ids."""
        return self.label or " ".join(x for x in (self.area_id, self.series_id) if x)

    def place_in(self, lang: str) -> str:
        """The target's name for a reader of ``lang`` ("zh" or "en")."""
        return (self.label_en if lang == "en" else None) or self.place

    def time_of(self, level: Level) -> datetime:
        """When the forecast reaches ``level`` (its probability first reaches the rule's),
        else the peak's time."""
        return self.level_ts.get(level, self.peak_ts)

    def probability_of(self, level: Level) -> float:
        return self.probabilities.get(level, 0.0)


def to_utc(value: datetime, name: str = "ts") -> datetime:
    """Refuse naive datetimes (their zone is a guess) and express aware ones in UTC."""
    if not isinstance(value, datetime):
        raise DataError(f"{value!r} is not a datetime", column=name)
    if value.tzinfo is None or value.utcoffset() is None:
        raise DataError("naive datetime; give a timezone (UTC)", column=name)
    return value.astimezone(UTC)
