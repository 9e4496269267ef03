"""What-if scenarios: a storm to score for planning, and what it would do."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from serving.schemas import Colour, IsoTime


class StormIn(BaseModel):
    """Rain over areas: ``mm`` in all over ``hours`` from each task's origin, as the weather
    service would forecast it (``forecast``) or as the gauges would have measured it over the
    last hours (``observed``); with the weather service's rainstorm signal when ``signal``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    areas: list[str] = Field(
        default_factory=list,
        max_length=200,
        description="area ids (e.g. gulou); empty for every area of the city",
    )
    mm: float = Field(ge=0, le=500, description="total rain over the hours, in mm")
    hours: int = Field(3, ge=1, le=24)
    kind: Literal["forecast", "observed"] = Field("forecast", alias="as")
    signal: Literal["blue", "yellow", "orange", "red"] | None = None


class ScenarioIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field("", max_length=200, examples=["100 mm in 3 h over Gulou"])
    storms: list[StormIn] = Field(min_length=1, max_length=20)


class ScenarioTarget(BaseModel):
    series_id: str
    area_id: str | None
    label: str | None
    level: Colour = Field(description="the level its rule would grade from this forecast")
    peak_value: float
    peak_ts: IsoTime
    probabilities: dict[str, float]


class ScenarioDomain(BaseModel):
    origin: IsoTime
    unit: str | None
    targets_at_level: int
    targets: list[ScenarioTarget] = Field(
        description="every target at a level, most severe first; else the ten likeliest"
    )


class PlannedWarning(BaseModel):
    domain: str
    area_id: str
    warning_id: str | None = Field(description="the open warning it would change; null: new")
    action: str = Field(description="opened, reopened, escalated, deescalated or closed")
    from_level: Colour
    to_level: Colour
    targets: int
    message_zh: str
    message_en: str


class ScenarioOut(BaseModel):
    """What the storm would do; nothing was written (store, forecasts, warnings)."""

    name: str
    domains: dict[str, ScenarioDomain]
    warnings: list[PlannedWarning]
