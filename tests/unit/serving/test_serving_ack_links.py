"""Acknowledging from a phone: the message a channel receives carries a signed link naming the
roster's contact on that channel; opening it shows the warning and changes nothing, pressing
its button acknowledges as that contact; an altered link is refused and an old one expires."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from fastapi.testclient import TestClient
from pydantic import SecretStr

from alerts import PONDING_CM, AckLinkError, AckLinks, Assessment, Ledger, Level, WarningEngine
from serving import Settings, WebhookReceiver, create_app

T0 = datetime(2025, 7, 31, 6, 0, tzinfo=UTC)
ROSTER = """
rosters:
  - domain: "*"
    tiers:
      - {name: 值班员, contacts: [{name: 张伟, channels: [duty]}]}
"""


def _open(ledger_url: str) -> str:
    ledger = Ledger(ledger_url)
    try:
        assessment = Assessment(
            domain="waterlogging", series_id="ponding-gulou-01", area_id="gulou", origin=T0,
            probabilities={Level.BLUE: 0.9}, peak_value=6.0, peak_ts=T0 + timedelta(hours=1),
            unit="cm", rule=PONDING_CM, label="鼓楼区 五一路下穿通道",
        )  # fmt: skip
        (change,) = WarningEngine(ledger, channels=("duty",)).evaluate([assessment], T0)
        return change.warning.id
    finally:
        ledger.dispose()


def test_a_link_in_the_message_acknowledges_as_the_contact_on_that_channel(
    settings: Settings, tmp_path: Path
) -> None:
    receiver = WebhookReceiver().start()
    try:
        channels = tmp_path / "channels.yaml"
        spec = {"name": "duty", "type": "webhook", "url": receiver.url}
        channels.write_text(yaml.safe_dump({"channels": [spec]}))
        roster = tmp_path / "roster.yaml"
        roster.write_text(ROSTER, encoding="utf-8")
        served = settings.model_copy(update={
            "channels": channels, "roster": roster, "dispatch_interval_s": 0.05,
            "ack_secret": SecretStr("ack-secret"), "public_url": "https://ops.example.gov.cn",
        })  # fmt: skip
        wid = _open(served.ledger)
        with TestClient(create_app(served)) as client:
            deadline = time.monotonic() + 10
            while not receiver.received and time.monotonic() < deadline:
                time.sleep(0.05)
            # opened, and (the data's clock being long past) sent again unacknowledged
            message = receiver.received[0]
            assert message["action"] == "opened"
            assert all("/ack/" in m["ack_url"] for m in receiver.received)
            link = urlsplit(message["ack_url"])
            assert link.netloc == "ops.example.gov.cn" and link.path.startswith("/ack/")

            page = client.get(link.path)  # what a chat app's preview fetches too
            assert page.status_code == 200 and "确认收到" in page.text and "张伟" in page.text
            ledger = Ledger(served.ledger)
            assert ledger.get(wid).status == "open"  # opening it changed nothing

            done = client.post(link.path)
            assert done.status_code == 200 and "已确认收到" in done.text
            warning = ledger.get(wid)
            assert (warning.status, warning.acked_by) == ("acknowledged", "张伟")
            entry = ledger.history(wid)[-1]
            assert entry.action == "acknowledged" and entry.actor == "张伟"
            assert "duty" in entry.note
            ledger.dispose()
            again = client.get(link.path)
            assert "已由张伟" in again.text

            token = link.path.removeprefix("/ack/")
            forged = client.post(f"/ack/{token[:-2]}xx")
            assert forged.status_code == 403 and "not valid" in forged.text
    finally:
        receiver.stop()


def test_a_link_expires_and_an_altered_one_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    links = AckLinks("s3cret", "https://ops.example.gov.cn", ttl_s=3600, recipients={"sms": "李强"})
    url = links.url("w-1", "sms", "en")
    token = url.rsplit("/", 1)[1]
    grant = links.check(token)
    assert (grant.warning_id, grant.recipient, grant.channel, grant.lang) == (
        "w-1", "李强", "sms", "en"
    )  # fmt: skip
    with pytest.raises(AckLinkError, match="not valid"):
        AckLinks("another secret", "https://x").check(token)
    later = time.time() + 7200
    monkeypatch.setattr("itsdangerous.timed.time.time", lambda: later)
    with pytest.raises(AckLinkError, match="expired"):
        links.check(token)
