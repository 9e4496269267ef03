"""Request models refuse bad bodies and queries with a 422 before anything runs; data that
passes the schema but not validation is refused with the error body, naming row and column."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from serving import Settings
from serving.schemas.errors import ErrorOut, RequestErrorOut

OBS = {"series_id": "pond-1", "ts": "2025-06-04T08:00:00+08:00", "value": 1.0}
EVENT = {"event_id": "e-1", "ts": "2025-06-04T08:00:00+08:00", "source": "hotline"}
FORECAST = {
    "issued_at": "2025-06-04T08:00:00+08:00",
    "valid_at": "2025-06-04T09:00:00+08:00",
    "area_id": "gulou",
    "variable": "rain_mm",
    "value": 3.0,
}


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/observations", {"observations": []}, "observations"),
        ("/v1/observations", {}, "observations"),
        ("/v1/observations", {"observations": [{**OBS, "colour": "red"}]}, "colour"),
        ("/v1/observations", {"observations": [{**OBS, "value": "deep"}]}, "value"),
        ("/v1/observations", {"observations": [{**OBS, "ts": "yesterday"}]}, "ts"),
        ("/v1/events", {"events": [{k: v for k, v in EVENT.items() if k != "source"}]}, "source"),
        ("/v1/events", {"events": [{**EVENT, "attrs": "not an object"}]}, "attrs"),
        ("/v1/forecasts", {"forecasts": [{**FORECAST, "area_id": None}]}, "area_id"),
        ("/v1/warnings/w-1/ack", {"by": "Lin"}, "by"),  # who acks comes from the key
        ("/v1/warnings/w-1/ack", {"note": "on it", "urgent": True}, "urgent"),
        ("/v1/warnings/w-1/ack", {"note": 5}, "note"),
    ],
)
def test_a_body_the_schema_refuses_answers_422_naming_the_field_and_writes_nothing(
    client: TestClient, settings: Settings, path: str, body: dict[str, Any], field: str
) -> None:
    before = _files(settings)
    answer = client.post(path, json=body)
    assert answer.status_code == 422
    refused = RequestErrorOut.model_validate(answer.json())
    assert any(field in error.loc for error in refused.detail)
    assert _files(settings) == before


@pytest.mark.parametrize(
    "params", [{"status": "pending"}, {"limit": 0}, {"limit": 2001}, {"limit": "all"}]
)
def test_a_warning_query_out_of_range_answers_422(
    client: TestClient, params: dict[str, Any]
) -> None:
    answer = client.get("/v1/warnings", params=params)
    assert answer.status_code == 422
    assert RequestErrorOut.model_validate(answer.json()).detail[0].loc[0] == "query"


def test_data_that_fails_validation_answers_422_with_the_error_body(client: TestClient) -> None:
    unknown = {**OBS, "series_id": "no-such-sensor"}
    answer = client.post("/v1/observations", json={"observations": [OBS, unknown]})
    assert answer.status_code == 422
    error = ErrorOut.model_validate(answer.json())
    assert error.error == "DataError"
    assert "row 2" in error.detail and "no-such-sensor" in error.detail


def _files(settings: Settings) -> dict[str, bytes]:
    root = settings.data_dir
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}
