"""Live data in: observations, idempotent on (series_id, ts)."""

from __future__ import annotations

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


@router.post("/observations")
def post_observations(body: ObservationsIn, runtime: RuntimeDep) -> dict[str, Any]:
    rows = [
        {
            "series_id": o.series_id,
            "ts": o.ts.isoformat(),
            "value": o.value,
            "received_at": o.received_at.isoformat() if o.received_at else None,
        }
        for o in body.observations
    ]
    return runtime.post_observations(rows)
