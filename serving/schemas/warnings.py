"""Warnings as duty officers and dashboards see them: the list, one with its history, the ack."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from serving.schemas import Colour, IsoTime

Status = Literal["open", "acknowledged", "closed"]


class AckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    by: str = Field(min_length=1, max_length=100, description="who acknowledges")
    note: str = Field("", max_length=1000)


class WarningOut(BaseModel):
    """One warning for one target: its current (or, once closed, last) level and peak."""

    id: str
    domain: str
    series_id: str
    area_id: str | None
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
    message_zh: str
    message_en: str
    details: dict[str, Any] = Field(
        description="the latest assessment: label, unit, origin, peak, probabilities"
    )


class WarningsOut(BaseModel):
    warnings: list[WarningOut] = Field(description="most recently updated first")


class HistoryOut(BaseModel):
    """One step of a warning's lifecycle."""

    warning_id: str
    ts: IsoTime
    action: Literal["opened", "escalated", "deescalated", "closed", "acknowledged"]
    from_level: Colour
    to_level: Colour


class WarningDetailOut(WarningOut):
    history: list[HistoryOut] = Field(description="every change, oldest first")
