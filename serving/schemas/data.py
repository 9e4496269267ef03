"""Live data in: observations, events and weather forecasts, idempotent on their keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ObservationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    series_id: str
    ts: datetime = Field(description="ISO-8601 with an offset, e.g. 2025-08-01T08:00:00+08:00")
    value: float
    received_at: datetime | None = None


class ObservationsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    observations: list[ObservationIn] = Field(min_length=1, max_length=100_000)


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    event_id: str
    ts: datetime
    source: str = Field(description="hotline, urban_mgmt, utility, traffic, weather, ...")
    category: str | None = None
    area_id: str | None = None
    lat: float | None = None
    lon: float | None = None
    attrs: dict[str, Any] | None = None


class EventsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    events: list[EventIn] = Field(min_length=1, max_length=100_000)


class ForecastIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    issued_at: datetime
    valid_at: datetime
    area_id: str
    variable: str = Field(description="rain_mm (hourly accumulation), temperature_c, ...")
    value: float


class ForecastsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    forecasts: list[ForecastIn] = Field(min_length=1, max_length=100_000)


class IngestOut(BaseModel):
    """What a post did. A repeated key is an update (or unchanged), never a second row."""

    model_config = ConfigDict(from_attributes=True)
    accepted: int = Field(description="rows validated and taken")
    inserted: int = Field(description="rows new to the store")
    updated: int = Field(description="rows that replaced a stored value")
    unchanged: int = Field(description="rows equal to what was stored")
    warning_changes: int = Field(description="warnings opened, moved or closed by the rescore")
