"""CAP over HTTP: a warning's CAP 1.2 message, valid against the OASIS schema, and the Atom
feed of the open warnings that links to each; named in the city's names."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import capvalidator
from fastapi.testclient import TestClient

from alerts import CAP_NS, PONDING_CM, Assessment, Ledger, Level, WarningEngine
from serving import Settings, create_app

T0 = datetime(2025, 7, 31, 6, 0, tzinfo=UTC)


def _open(ledger_url: str, area: str) -> str:
    ledger = Ledger(ledger_url)
    try:
        assessment = Assessment(
            domain="waterlogging", series_id=f"ponding-{area}-01", area_id=area, origin=T0,
            probabilities={Level.BLUE: 0.9, Level.YELLOW: 0.6}, peak_value=12.0,
            peak_ts=T0 + timedelta(hours=2), unit="cm", rule=PONDING_CM, label=f"{area} 下穿通道",
        )  # fmt: skip
        (change,) = WarningEngine(ledger).evaluate([assessment], T0)
        return change.warning.id
    finally:
        ledger.dispose()


def test_a_warning_is_served_as_cap_and_the_open_ones_as_an_atom_feed(
    settings: Settings, tokens: dict[str, str]
) -> None:
    wid = _open(settings.ledger, "gulou")
    served = settings.model_copy(update={"cap_sender": "citybrain@fuzhou.gov.cn"})
    with TestClient(create_app(served), headers={"X-API-Key": tokens["read"]}) as client:
        answer = client.get(f"/v1/warnings/{wid}/cap")
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("application/cap+xml")
        assert capvalidator.check_schema(answer.content).passed
        cap = ET.fromstring(answer.content)
        ns = {"cap": CAP_NS}
        assert cap.findtext("cap:sender", namespaces=ns) == "citybrain@fuzhou.gov.cn"
        assert cap.findtext("cap:msgType", namespaces=ns) == "Alert"
        areas = [a.text for a in cap.findall("cap:info/cap:area/cap:areaDesc", ns)]
        assert areas == ["鼓楼区", "Gulou"]  # the areas table's names

        feed = client.get("/v1/warnings/cap")
        assert feed.status_code == 200
        assert feed.headers["content-type"].startswith("application/atom+xml")
        atom = ET.fromstring(feed.content)
        atom_ns = {"a": "http://www.w3.org/2005/Atom"}
        (entry,) = atom.findall("a:entry", atom_ns)
        link = entry.find("a:link", atom_ns)
        assert link is not None and link.get("type") == "application/cap+xml"
        assert link.get("href", "").endswith(f"/v1/warnings/{wid}/cap")
        assert (
            client.get("/v1/warnings/cap", params={"domain": "traffic"}).content.count(b"<entry")
            == 0
        )
        missing = client.get("/v1/warnings/nope/cap")
        assert missing.status_code == 404 and missing.json()["error"] == "NotFoundError"
