"""Live data in: observations, events and weather forecasts, idempotent on their keys."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from serving.deps import RuntimeDep

router = APIRouter(prefix="/v1", tags=["data"])


class ObservationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    series_id: str
    ts: datetime = Field(description="ISO-8601 with an offset, e.g. 2025-08-01T08:00:00+08:00")
    value: float
    received_at: datetime | None = None


class ObservationsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    observations: list[ObservationIn] = Field(min_length=1, max_length=100_000)


def _rows(items: list[BaseModel]) -> list[dict[str, Any]]:
    """Request items as plain rows, times as ISO-8601 text: the validator then checks them
    exactly as it checks a file."""
    return [item.model_dump(mode="json") for item in items]


@router.post("/observations")
def post_observations(body: ObservationsIn, runtime: RuntimeDep) -> dict[str, Any]:
    return runtime.post_rows("observations", _rows(body.observations))


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


@router.post("/events")
def post_events(body: EventsIn, runtime: RuntimeDep) -> dict[str, Any]:
    rows = _rows(body.events)
    for row in rows:  # the canonical table keeps attrs as JSON text
        if row["attrs"] is not None:
            row["attrs"] = json.dumps(row["attrs"], ensure_ascii=False)
    return runtime.post_rows("events", rows)


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


@router.post("/forecasts")
def post_forecasts(body: ForecastsIn, runtime: RuntimeDep) -> dict[str, Any]:
    return runtime.post_rows("weather_forecasts", _rows(body.forecasts))
