"""The dependency aliases hand each route the component the lifespan built, and the scorer
dependencies answer 404 for a domain nothing serves, with the error body."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from alerts import Assessment, Ledger, Level, LevelRule, Warning, WarningEngine
from features import ConfigError, Store
from serving import Settings, create_app
from serving.deps import IngestDep, LedgerDep, ScorersDep, SettingsDep, StoreDep
from serving.ingest import Ingest
from serving.schemas.warnings import WarningDetailOut, WarningOut
from serving.scorers import Scorers

NO_DOMAIN = {
    "error": "NotFoundError",
    "detail": "no model serves domain 'traffic'; served domains: none",
}


def test_each_alias_resolves_to_the_one_component_the_lifespan_built(settings: Settings) -> None:
    app = create_app(settings)
    seen: list[dict[str, Any]] = []

    @app.get("/probe")
    def probe(
        s: SettingsDep, store: StoreDep, ledger: LedgerDep, scorers: ScorersDep, ingest: IngestDep
    ) -> dict[str, str]:
        seen.append({"s": s, "store": store, "ledger": ledger, "scorers": scorers, "in": ingest})
        return {}

    with TestClient(app) as client:
        assert client.get("/probe").status_code == 200
        assert client.get("/probe").status_code == 200
    first, second = seen
    assert first["s"] is settings
    assert isinstance(first["store"], Store) and first["store"].root == settings.data_dir
    assert isinstance(first["ledger"], Ledger)
    assert isinstance(first["scorers"], Scorers) and isinstance(first["in"], Ingest)
    assert all(first[k] is second[k] for k in first)  # built once, not per request


def test_a_domain_nothing_serves_answers_404_with_the_error_body(client: TestClient) -> None:
    for answer in (
        client.get("/v1/risk", params={"domain": "traffic"}),
        client.get("/v1/risk/traffic/road-1"),
    ):
        assert answer.status_code == 404
        assert answer.json() == NO_DOMAIN
    default = client.get("/v1/risk")  # the query's default domain is waterlogging
    assert default.status_code == 404 and "'waterlogging'" in default.json()["detail"]


def test_readiness_answers_503_with_its_body_and_the_unserved_task(client: TestClient) -> None:
    answer = client.get("/readyz")
    assert answer.status_code == 503
    body = answer.json()
    assert body["ready"] is False and body["models"] == {}
    assert "no task 'no-such-task'" in body["problems"]["no-such-task"]
    problems = {k: v for k, v in body["problems"].items() if k != "store"}
    expected = {"models": [], "problems": problems, "notices": {}}
    assert client.get("/v1/models").json() == expected
    assert client.post("/v1/models/reload").json() == expected


def test_liveness_answers_ok_however_unready(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_posted_observations_reach_the_store_through_the_ingest_dependency(
    client: TestClient, settings: Settings
) -> None:
    rows = [{"series_id": "pond-1", "ts": "2025-06-04T08:00:00+08:00", "value": 2.5}]
    first = client.post("/v1/observations", json={"observations": rows})
    assert first.status_code == 200
    assert first.json() == {
        "accepted": 1,
        "inserted": 1,
        "updated": 0,
        "unchanged": 0,
        "warning_changes": 0,
        "rescored": [],
        "quarantined": None,
    }
    again = client.post("/v1/observations", json={"observations": rows}).json()
    assert again["unchanged"] == 1 and again["inserted"] == 0
    stored = Store(settings.data_dir).read("observations")
    assert stored.filter(stored["series_id"] == "pond-1")["ts"].max() == datetime(
        2025, 6, 4, 0, 0, tzinfo=UTC
    )


def _open_warning(settings: Settings) -> Warning:
    """A yellow ponding warning in Gulou with two targets, opened through the real engine."""
    ledger = Ledger(settings.ledger)
    rule = LevelRule({Level.BLUE: 5.0, Level.YELLOW: 10.0}, unit="cm")
    now = datetime(2025, 6, 2, 10, 0, tzinfo=UTC)
    targets = [
        Assessment(
            domain="waterlogging",
            series_id=sid,
            area_id="gulou",
            origin=now,
            probabilities={Level.BLUE: 0.9, Level.YELLOW: p},
            peak_value=11.5,
            peak_ts=now + timedelta(hours=1),
            unit="cm",
            rule=rule,
            label=f"鼓楼区 {sid}",
        )
        for sid, p in (("pond-1", 0.7), ("pond-2", 0.2))
    ]
    try:
        (change,) = WarningEngine(ledger, channels=()).evaluate(targets, now=now)
    finally:
        ledger.dispose()
    return change.warning


def test_a_warning_in_the_ledger_is_listed_shown_with_history_and_acknowledged(
    client: TestClient, settings: Settings, tokens: dict[str, str]
) -> None:
    opened = _open_warning(settings)
    listed = client.get("/v1/warnings", params={"status": "open"}).json()["warnings"]
    assert [w["id"] for w in listed] == [opened.id]
    assert listed[0] == opened.to_dict()  # the record's own JSON, key for key
    assert listed[0]["worst_series_id"] == "pond-1" and listed[0]["targets_at_level"] == 2
    assert {t["series_id"]: t["level"] for t in listed[0]["targets"]} == {
        "pond-1": "yellow",
        "pond-2": "blue",
    }
    area = client.get("/v1/warnings", params={"area_id": "mawei"}).json()["warnings"]
    assert area == []
    shown = WarningDetailOut.model_validate(client.get(f"/v1/warnings/{opened.id}").json())
    assert [h.action for h in shown.history] == ["opened"]
    officer = {"X-API-Key": tokens["officer"]}
    spoofed = client.post(
        f"/v1/warnings/{opened.id}/ack", json={"by": "anonymous-attacker"}, headers=officer
    )
    assert spoofed.status_code == 422  # who acknowledges comes from the key, never the body
    acked = client.post(f"/v1/warnings/{opened.id}/ack", json={"note": "on it"}, headers=officer)
    assert WarningOut.model_validate(acked.json()).status == "acknowledged"
    assert acked.json()["acked_by"] == "officer tester"


def test_an_officer_resolves_a_warning_and_its_history_says_who_and_why(
    client: TestClient, settings: Settings
) -> None:
    opened = _open_warning(settings)
    refused = client.post(f"/v1/warnings/{opened.id}/resolve", json={})
    assert refused.status_code == 422  # a resolution says why
    done = client.post(f"/v1/warnings/{opened.id}/resolve", json={"note": "pumped dry"})
    assert done.status_code == 200
    assert (done.json()["status"], done.json()["resolved_by"]) == ("closed", "admin tester")
    history = client.get(f"/v1/warnings/{opened.id}/history").json()["history"]
    assert [(h["action"], h["actor"], h["note"]) for h in history] == [
        ("opened", None, ""),
        ("resolved", "admin tester", "pumped dry"),
    ]
    again = client.post(f"/v1/warnings/{opened.id}/resolve", json={"note": "x"})
    assert again.status_code == 422 and "closed" in again.json()["detail"]


def test_silences_are_set_listed_and_expired_over_http(
    client: TestClient, tokens: dict[str, str]
) -> None:
    body = {
        "matchers": {"domain": "waterlogging", "series_id": "pond-1"},
        "hours": 4,
        "comment": "传感器检修",
    }
    officer = {"X-API-Key": tokens["officer"]}
    created = client.post("/v1/silences", json=body, headers=officer)
    assert created.status_code == 201
    silence = created.json()
    assert silence["state"] == "active" and silence["matchers"]["series_id"] == "pond-1"
    assert silence["created_by"] == "officer tester"
    assert [s["id"] for s in client.get("/v1/silences").json()["silences"]] == [silence["id"]]
    expired = client.post(f"/v1/silences/{silence['id']}/expire", headers=officer)
    assert expired.json()["state"] == "expired" and expired.json()["expired_by"] == "officer tester"
    listed = client.get("/v1/silences", params={"state": "active"}).json()["silences"]
    assert listed == []
    for bad in (
        {**body, "matchers": {}},  # no matcher
        {**body, "hours": None},  # no end
        {**body, "ends_at": "2025-06-01T00:00:00+00:00", "hours": None},  # in the past
        {**body, "comment": ""},
        {**body, "created_by": "someone else"},  # who sets it comes from the key
    ):
        answer = client.post("/v1/silences", json=bad)
        assert answer.status_code == 422, bad
    assert len(client.get("/v1/silences").json()["silences"]) == 1
    missing = client.post("/v1/silences/nope/expire")
    assert missing.status_code == 404


def test_an_unknown_warning_answers_404_with_the_error_body(client: TestClient) -> None:
    body = {"error": "NotFoundError", "detail": "no warning 'nope'"}
    assert client.get("/v1/warnings/nope").json() == body
    answer = client.post("/v1/warnings/nope/ack", json={})
    assert answer.status_code == 404 and answer.json() == body


def test_a_roster_naming_a_channel_that_is_not_configured_stops_the_service_at_start(
    settings: Settings, tmp_path: Path
) -> None:
    roster = tmp_path / "roster.yaml"
    roster.write_text(
        "rosters:\n  - tiers:\n      - {name: duty, contacts: [{name: a, channels: [sms]}]}\n",
        encoding="utf-8",
    )
    app = create_app(settings.model_copy(update={"roster": roster}))
    client = TestClient(app)
    with pytest.raises(ConfigError, match=r"channels \['sms'\] that are not configured"):
        client.__enter__()
