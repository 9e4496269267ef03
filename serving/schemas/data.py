"""Live data in: observations, events and weather forecasts, idempotent on their keys."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from serving.schemas.quarantine import HeldOut

Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Small = Annotated[str, StringConstraints(max_length=200)]


class ObservationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    series_id: Name
    ts: datetime = Field(description="ISO-8601 with an offset, e.g. 2025-08-01T08:00:00+08:00")
    value: float
    received_at: datetime | None = None


class ObservationsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    observations: list[ObservationIn] = Field(min_length=1, max_length=100_000)


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    event_id: Name
    ts: datetime
    source: Name = Field(description="hotline, urban_mgmt, utility, traffic, weather, holiday")
    category: Small | None = None
    area_id: Small | None = None
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
    area_id: Name
    variable: Name = Field(description="rain_mm (hourly accumulation), temperature_c, ...")
    value: float


class ForecastsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    forecasts: list[ForecastIn] = Field(min_length=1, max_length=100_000)


class IngestOut(BaseModel):
    """What a post did. A repeated key is an update (or unchanged), never a second row; a
    batch held for review says why in ``quarantined`` and changes nothing."""

    accepted: int = Field(description="rows validated and taken")
    inserted: int = Field(description="rows new to the store")
    updated: int = Field(description="rows that replaced a stored value")
    unchanged: int = Field(description="rows equal to what was stored (nothing done)")
    warning_changes: int = Field(description="warnings opened, moved or closed by the rescore")
    rescored: list[str] = Field(
        default_factory=list, description="domains whose forecasts the batch changed"
    )
    quarantined: HeldOut | None = Field(
        None, description="the batch held for an admin's review instead of acting, and why"
    )
