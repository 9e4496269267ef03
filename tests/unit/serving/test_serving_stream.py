"""Warnings, live over server-sent events: each change of the ledger once and in order,
resumable from ``Last-Event-ID`` (from memory or, further back, from the ledger), filtered by
domain; and the feed's patience with a number committed out of order (PostgreSQL)."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert

from alerts import PONDING_CM, Assessment, Ledger, Level, WarningEngine
from serving import Settings, create_app
from serving.stream import WarningFeed

T0 = datetime(2025, 7, 31, 6, 0, tzinfo=UTC)


def _assessment(probability: float, *, domain: str = "waterlogging", area: str = "gulou"):
    return Assessment(
        domain=domain,
        series_id=f"{domain}-{area}-01",
        area_id=area,
        origin=T0,
        probabilities={Level.BLUE: probability},
        peak_value=6.0,
        peak_ts=T0 + timedelta(hours=1),
        unit="cm",
        rule=PONDING_CM,
        label="鼓楼区 五一路下穿通道",
    )


def _open(ledger_url: str, *, domain: str = "waterlogging", area: str = "gulou") -> str:
    ledger = Ledger(ledger_url)
    try:
        (change,) = WarningEngine(ledger).evaluate([_assessment(0.9, domain=domain, area=area)], T0)
        return change.warning.id
    finally:
        ledger.dispose()


def _read(client: TestClient, headers: dict[str, str] | None = None, **params: Any) -> list[dict]:
    """The events of one stream that ends after ``until_s``."""
    events, current = [], {}
    with client.stream("GET", "/v1/warnings/stream", params=params, headers=headers) as answer:
        assert answer.status_code == 200, answer.read()
        assert answer.headers["content-type"].startswith("text/event-stream")
        for line in answer.iter_lines():
            if not line:
                if "data" in current:
                    events.append(current)
                current = {}
            elif not line.startswith(":"):
                field, _, value = line.partition(":")
                current[field] = value.strip()
    return [{**e, "data": json.loads(e["data"])} for e in events]


@pytest.fixture
def streaming(settings: Settings) -> Settings:
    return settings.model_copy(update={"stream_poll_s": 0.05})


def test_changes_arrive_live_once_in_order_and_resume_from_the_last_event_id(
    streaming: Settings, tokens: dict[str, str]
) -> None:
    earlier = _open(streaming.ledger, area="taijiang")  # before the server: not streamed live
    with TestClient(create_app(streaming), headers={"X-API-Key": tokens["read"]}) as client:
        timer = threading.Timer(0.4, _open, args=(streaming.ledger,))
        timer.start()
        live = _read(client, until_s=1.5)
        timer.join()
        (opened,) = live
        assert opened["event"] == "opened" and int(opened["id"]) == opened["data"]["seq"]
        assert opened["data"]["warning"]["area_id"] == "gulou"
        assert opened["data"]["warning"]["level"] == "blue"

        # an officer acknowledges: the stream says who, from where the client left off
        officer = {"X-API-Key": tokens["officer"]}
        wid = opened["data"]["warning_id"]
        assert client.post(f"/v1/warnings/{wid}/ack", json={}, headers=officer).status_code == 200
        resumed = _read(client, {"Last-Event-ID": opened["id"]}, until_s=1.0)
        assert [e["event"] for e in resumed] == ["acknowledged"]
        assert resumed[0]["data"]["actor"] == "officer tester"

        # from the beginning: the ledger's history before the server started too, in order
        everything = _read(client, {"Last-Event-ID": "0"}, until_s=0.5)
        seqs = [int(e["id"]) for e in everything]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        assert everything[0]["data"]["warning_id"] == earlier
        assert [e["event"] for e in everything][-2:] == ["opened", "acknowledged"]
        assert _read(client, {"Last-Event-ID": "0"}, until_s=0.5, domain="traffic") == []
        bad = client.get("/v1/warnings/stream", headers={"Last-Event-ID": "yesterday"})
        assert bad.status_code == 422 and "Last-Event-ID" in bad.text


def test_the_feed_waits_for_a_number_committed_late_and_not_forever(tmp_path: Path) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path / 'w.db'}")
    wid = _open(f"sqlite:///{tmp_path / 'w.db'}")
    feed = WarningFeed(ledger, gap_s=0.3)
    start = feed.cursor
    history = ledger.tables.history

    def entry(seq: int) -> None:
        with ledger.engine.begin() as conn:
            conn.execute(insert(history).values(
                seq=seq, warning_id=wid, ts=T0, action="joined", from_level=1, to_level=1,
                series_id=f"s{seq}", note="",
            ))  # fmt: skip

    entry(start + 2)  # a later number committed first
    assert feed.poll() == 0 and feed.cursor == start
    entry(start + 1)  # the earlier one arrives: both, in order
    assert feed.poll() == 2 and feed.cursor == start + 2
    events, reached = feed.after(start)  # type: ignore[misc]
    assert [e.seq for e in events] == [start + 1, start + 2] and reached == start + 2
    entry(start + 4)  # start + 3 never commits (rolled back)
    assert feed.poll() == 0
    time.sleep(0.35)
    assert feed.poll() == 1 and feed.cursor == start + 4
    ledger.dispose()
