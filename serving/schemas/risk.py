"""The dashboard's poll: each target's forecast path, exceedance probabilities and level."""

from __future__ import annotations

from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field

from serving.schemas import Colour, IsoTime

_QUANTILES = ("q10", "q50", "q90")


def _document_quantiles(schema: dict[str, Any]) -> None:
    """The model protocol guarantees q10, q50 and q90; they are extra fields only so that the
    quantiles keep the task's order beside those it adds (q05, q97_5, ...)."""
    properties = cast(dict[str, Any], schema["properties"])
    for name in _QUANTILES:
        properties[name] = {"type": "number", "title": name.upper()}
    schema["required"] = [*cast(list[str], schema.get("required", [])), *_QUANTILES]


class ForecastStep(BaseModel):
    """One horizon of a forecast path: the point forecast and every quantile the task
    declares (q10, q50 and q90 always; q10 <= q50 <= q90)."""

    model_config = ConfigDict(extra="allow", json_schema_extra=_document_quantiles)
    __pydantic_extra__: dict[str, float] = Field(init=False)

    ts: IsoTime
    horizon_min: int = Field(description="minutes after the origin")
    yhat: float


class RiskItem(BaseModel):
    """One target (a sensor, a district's ticket count, a road) at the latest origin."""

    series_id: str
    area_id: str | None
    label: str | None = Field(description="district and place, in Chinese")
    label_en: str | None = Field(None, description="district and place, in English")
    observed: float | None = Field(description="the latest observed value")
    observed_ts: IsoTime | None
    level: Colour = Field(description="the target's open warning, or none")
    level_zh: str | None = Field(description="the level's Chinese name; null for none")
    probabilities: dict[str, float] = Field(
        description="level colour -> probability of reaching it within the horizons"
    )
    peak_value: float = Field(description="the highest point forecast over the horizons")
    peak_ts: IsoTime
    forecast: list[ForecastStep]


class RiskOut(BaseModel):
    """Every target of a domain, the most severe and most likely first.

    Before the domain's first score there is nothing to show: ``origin`` is null, ``items``
    empty, and ``task``, ``scored_at`` and ``unit`` are left out.
    """

    domain: str
    task: str | None = None
    origin: IsoTime | None = Field(description="the time the forecasts start from")
    scored_at: IsoTime | None = None
    model_version: str
    unit: str | None = Field(None, description="the target's unit, e.g. cm; null without a rule")
    items: list[RiskItem]


class RecentValue(BaseModel):
    ts: IsoTime
    value: float


class RiskDetailOut(RiskItem):
    """One target's forecast path, its thresholds, and its last six hours of observations."""

    recent: list[RecentValue]
    origin: IsoTime
    thresholds: dict[str, float] = Field(
        description="level colour -> the value that reaches it (this target's own rule)"
    )
    direction: Literal["above", "below"] | None = Field(
        description="which side of a threshold is bad; null where no rule grades the target"
    )
