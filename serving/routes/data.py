"""Live data in: observations, events and weather forecasts, idempotent on their keys."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from serving.deps import IngestDep
from serving.schemas.data import EventsIn, ForecastsIn, IngestOut, ObservationsIn
from serving.schemas.errors import error_responses

router = APIRouter(prefix="/v1", tags=["data"], responses=error_responses(422))


def _rows(items: Sequence[BaseModel]) -> list[dict[str, Any]]:
    """Request items as plain rows, times as ISO-8601 text: the validator then checks them
    exactly as it checks a file."""
    return [item.model_dump(mode="json") for item in items]


@router.post("/observations")
def post_observations(body: ObservationsIn, ingest: IngestDep) -> IngestOut:
    """Live observations; a repeated (series_id, ts) is an update. All rows or none."""
    return IngestOut.model_validate(ingest.post("observations", _rows(body.observations)))


@router.post("/events")
def post_events(body: EventsIn, ingest: IngestDep) -> IngestOut:
    """Live events (12345 tickets, rainstorm signals, ...); idempotent on event_id."""
    rows = _rows(body.events)
    for row in rows:  # the canonical table keeps attrs as JSON text
        if row["attrs"] is not None:
            row["attrs"] = json.dumps(row["attrs"], ensure_ascii=False)
    return IngestOut.model_validate(ingest.post("events", rows))


@router.post("/forecasts")
def post_forecasts(body: ForecastsIn, ingest: IngestDep) -> IngestOut:
    """Weather forecasts as issued; a repeated (issued_at, valid_at, area_id, variable) is a
    correction."""
    return IngestOut.model_validate(ingest.post("weather_forecasts", _rows(body.forecasts)))
