"""Live data in: observations, events and weather forecasts, idempotent on their keys.

Each route needs the ``ingest`` role; the rows are recorded as posted by the key's holder.
A batch answers 200 when taken (or unchanged) and 202 when held for review (quarantined).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response

from serving.auth import Ingester
from serving.deps import IngestDep
from serving.ingest import IngestCounts, LiveTable
from serving.routes.body import body_schema, rows_of
from serving.schemas.data import EventIn, ForecastIn, IngestOut, ObservationIn
from serving.schemas.errors import error_responses
from serving.schemas.quarantine import HeldOut

router = APIRouter(
    prefix="/v1",
    tags=["data"],
    responses={
        **error_responses(401, 403, 413, 415, 422, 429),
        202: {"model": IngestOut, "description": "Held for review (quarantined); nothing acted."},
    },
)

Observations = Annotated[list[dict[str, Any]], Depends(rows_of(ObservationIn, "observations"))]
Events = Annotated[list[dict[str, Any]], Depends(rows_of(EventIn, "events"))]
Forecasts = Annotated[list[dict[str, Any]], Depends(rows_of(ForecastIn, "forecasts"))]


def _answer(counts: IngestCounts, response: Response) -> IngestOut:
    held = counts.quarantined
    if held is not None:
        response.status_code = 202
    return IngestOut(
        accepted=counts.accepted,
        inserted=counts.inserted,
        updated=counts.updated,
        unchanged=counts.unchanged,
        warning_changes=counts.warning_changes,
        rescored=list(counts.rescored),
        quarantined=HeldOut.model_validate(held.to_dict()) if held is not None else None,
    )


def _post(
    ingest: IngestDep, table: LiveTable, rows: list[dict[str, Any]], by: str, response: Response
) -> IngestOut:
    return _answer(ingest.post(table, rows, by=by), response)


@router.post("/observations", openapi_extra=body_schema(ObservationIn, "observations"))
def post_observations(
    key: Ingester, rows: Observations, ingest: IngestDep, response: Response
) -> IngestOut:
    """Live observations; a repeated (series_id, ts) is an update, an unchanged one nothing.
    All rows or none."""
    return _post(ingest, "observations", rows, key.name, response)


@router.post("/events", openapi_extra=body_schema(EventIn, "events"))
def post_events(key: Ingester, rows: Events, ingest: IngestDep, response: Response) -> IngestOut:
    """Live events (12345 tickets, rainstorm signals, ...); idempotent on event_id."""
    for row in rows:  # the canonical table keeps attrs as JSON text
        if row["attrs"] is not None:
            row["attrs"] = json.dumps(row["attrs"], ensure_ascii=False)
    return _post(ingest, "events", rows, key.name, response)


@router.post("/forecasts", openapi_extra=body_schema(ForecastIn, "forecasts"))
def post_forecasts(
    key: Ingester, rows: Forecasts, ingest: IngestDep, response: Response
) -> IngestOut:
    """Weather forecasts as issued; a repeated (issued_at, valid_at, area_id, variable) is a
    correction."""
    return _post(ingest, "weather_forecasts", rows, key.name, response)
