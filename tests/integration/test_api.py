"""The HTTP API in process (TestClient): bad input is refused with what and where, and loses
nothing; risk, models and warnings answer in their documented shapes."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def client(serve_trained, tmp_path: Path):
    """An app over a private copy of the trained city's data (posts must not leak across
    tests), called with an admin's key."""
    app, _ = serve_trained("admin")
    with app as c:
        c.data_dir = tmp_path / "data"
        yield c


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_health_readiness_and_models_report_the_champion(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["models"] == {"waterlogging": "1"}
    assert client.get("/v1/models").json()["models"][0]["task"] == "e2e_waterlogging"


def test_risk_lists_every_ponding_sensor_with_quantiles_probabilities_and_level(client):
    body = client.get("/v1/risk", params={"domain": "waterlogging"}).json()
    assert len(body["items"]) == 40
    item = body["items"][0]
    assert set(item["probabilities"]) == {"blue", "yellow", "orange", "red"}
    assert len(item["forecast"]) == 3
    path = item["forecast"][0]
    assert path["q10"] <= path["q50"] <= path["q90"]
    one = client.get(f"/v1/risk/waterlogging/{item['series_id']}").json()
    assert one["series_id"] == item["series_id"] and one["recent"]


def test_risk_for_an_unserved_domain_is_404_naming_the_served_ones(client):
    answer = client.get("/v1/risk", params={"domain": "traffic"})
    assert answer.status_code == 404
    assert "waterlogging" in answer.json()["detail"]


@pytest.mark.parametrize(
    ("row", "expect"),
    [
        (
            {"series_id": "no-such-sensor", "ts": "2025-07-14T08:00:00+08:00", "value": 3.0},
            "no-such-sensor",
        ),
        (
            {"series_id": "ponding-gulou-01", "ts": "2025-07-14T08:00:00+08:00", "value": 9999.0},
            "value",
        ),
    ],
)
def test_invalid_observations_are_refused_with_row_and_column_and_store_is_unchanged(
    client, row, expect
):
    before = _snapshot(client.data_dir)
    good = {"series_id": "ponding-gulou-01", "ts": "2025-07-14T07:50:00+08:00", "value": 1.0}
    answer = client.post("/v1/observations", json={"observations": [good, row]})
    assert answer.status_code == 422
    detail = answer.json()["detail"]
    assert "row 2" in detail and expect in detail
    assert _snapshot(client.data_dir) == before


def test_naive_timestamps_and_unknown_fields_are_refused_by_the_schema(client):
    naive = {"series_id": "ponding-gulou-01", "ts": "2025-07-14T08:00:00", "value": 1.0}
    answer = client.post("/v1/observations", json={"observations": [naive]})
    assert answer.status_code == 422
    extra = {**naive, "ts": "2025-07-14T08:00:00Z", "colour": "red"}
    assert client.post("/v1/observations", json={"observations": [extra]}).status_code == 422


def test_posting_the_same_observations_twice_is_idempotent(client):
    rows = [{"series_id": "ponding-gulou-01", "ts": "2025-07-14T08:00:00+08:00", "value": 2.5}]
    first = client.post("/v1/observations", json={"observations": rows}).json()
    second = client.post("/v1/observations", json={"observations": rows}).json()
    assert first["inserted"] + first["updated"] == 1
    assert second["unchanged"] == 1 and second["inserted"] == 0


def test_acknowledging_an_unknown_warning_is_404(client):
    answer = client.post("/v1/warnings/nope/ack", json={})
    assert answer.status_code == 404


def test_events_and_forecasts_posted_live_are_validated_and_stored(client):
    event = {
        "event_id": "hotline-live-1",
        "ts": "2025-07-14T09:00:00+08:00",
        "source": "hotline",
        "category": "waterlogging",
        "area_id": "gulou",
        "attrs": {"channel": "phone"},
    }
    ok = client.post("/v1/events", json={"events": [event]})
    assert ok.status_code == 200 and ok.json()["inserted"] == 1
    bad_area = {**event, "event_id": "hotline-live-2", "area_id": "atlantis"}
    refused = client.post("/v1/events", json={"events": [bad_area]})
    assert refused.status_code == 422 and "atlantis" in refused.json()["detail"]

    forecast = {
        "issued_at": "2025-07-14T08:00:00+08:00",
        "valid_at": "2025-07-14T09:00:00+08:00",
        "area_id": "gulou",
        "variable": "rain_mm",
        "value": 12.5,
    }
    assert client.post("/v1/forecasts", json={"forecasts": [forecast]}).status_code == 200
    backwards = {**forecast, "valid_at": "2025-07-14T07:00:00+08:00"}
    answer = client.post("/v1/forecasts", json={"forecasts": [backwards]})
    assert answer.status_code == 422 and "valid_at" in answer.json()["detail"]
