"""Warnings as duty officers and dashboards see them: the list, one with its targets and
history, and what a person sends to acknowledge or resolve one."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from alerts import Action, Status
from serving.schemas import Colour, IsoTime


class AckIn(BaseModel):
    """Who acknowledges is the API key's holder, never a name in the body."""

    model_config = ConfigDict(extra="forbid")
    note: str = Field("", max_length=1000)


class ResolveIn(BaseModel):
    """Who lifts the warning is the API key's holder, never a name in the body."""

    model_config = ConfigDict(extra="forbid")
    note: str = Field(min_length=1, max_length=1000, description="why: what was seen or done")


class TargetOut(BaseModel):
    """One target of a warning: its own level and the forecast that put it there."""

    series_id: str
    label: str | None
    level: Colour
    level_number: int
    level_since: IsoTime
    probability: float = Field(description="of its level (of the lowest level when at none)")
    peak_value: float | None
    peak_ts: IsoTime | None
    threshold: float | None = Field(description="its own threshold of that level")
    joined_at: IsoTime
    left_at: IsoTime | None = Field(description="set while it is back at no level")


class WarningOut(BaseModel):
    """One warning of a domain in an area, for one episode: its current (or, once closed,
    last) level, the worst target's, and every target it grouped."""

    id: str
    domain: str
    area_id: str
    level: Colour
    level_number: int = Field(description="0 (none) to 4 (red)")
    level_zh: str
    peak_level: Colour = Field(description="the most severe level it reached")
    peak_level_number: int
    status: Status
    opened_at: IsoTime
    updated_at: IsoTime
    closed_at: IsoTime | None
    acked_at: IsoTime | None
    acked_by: str | None
    ack_note: str
    resolved_by: str | None = Field(description="who lifted it by hand, if a person did")
    resolve_note: str
    reopened: int = Field(description="times it came back within its quiet period (flaps)")
    tier: int = Field(description="the highest tier of its duty roster told so far (0: the first)")
    level_at: IsoTime = Field(description="when it reached its level: escalation counts from it")
    notified_at: IsoTime = Field(description="when officers were last sent a message about it")
    worst_series_id: str | None
    targets_at_level: int
    message_zh: str
    message_en: str
    details: dict[str, Any] = Field(
        description="the worst target's assessment (label, unit, origin, peak, probabilities) "
        "and the likely cause (an open warning of another domain in the area)"
    )
    targets: list[TargetOut]


class WarningsOut(BaseModel):
    warnings: list[WarningOut] = Field(description="most recently updated first")


class HistoryOut(BaseModel):
    """One step of a warning's lifecycle; who made it when a person did."""

    warning_id: str
    ts: IsoTime
    action: Action
    from_level: Colour
    to_level: Colour
    series_id: str | None = Field(description="the target that joined or left")
    actor: str | None
    note: str
    silenced_by: str | None = Field(description="the silence that held its message back")


class HistoryListOut(BaseModel):
    history: list[HistoryOut] = Field(description="every change, oldest first")


class WarningDetailOut(WarningOut):
    history: list[HistoryOut] = Field(description="every change, oldest first")
