"""Dead letters as an operator meets them: a message the receiver refused (a signature made
with the wrong secret) is listed by ``GET /v1/deliveries?state=failed`` and by ``citybrain
deliveries list``, and once the receiver is fixed, put back by an admin (over HTTP or the
command line) and delivered under its first idempotency key."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from fastapi.testclient import TestClient

from alerts import PONDING_CM, Assessment, Ledger, Level, WarningEngine, WebhookChannel
from features import ConfigError
from serving import Settings, WebhookReceiver, build_channels, create_app, main

T0 = datetime(2025, 7, 31, 6, 0, tzinfo=UTC)


def _open_warning(ledger_url: str) -> str:
    """An orange ponding warning opened by the real engine, its message queued for ``duty``."""
    ledger = Ledger(ledger_url)
    try:
        assessment = Assessment(
            domain="waterlogging",
            series_id="pond-wuyi-underpass",
            area_id="gulou",
            origin=T0,
            probabilities={Level.BLUE: 0.97, Level.YELLOW: 0.9, Level.ORANGE: 0.72},
            peak_value=16.0,
            peak_ts=T0 + timedelta(minutes=100),
            unit="cm",
            rule=PONDING_CM,
            label="鼓楼区 五一路下穿通道",
        )
        (change,) = WarningEngine(ledger, channels=("duty",)).evaluate([assessment], now=T0)
        return change.warning.id
    finally:
        ledger.dispose()


def _wait(check: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    """The duty room's receiver, checking signatures with the secret it was given: not the
    one the service signs with (a misconfiguration, fixed later in the test)."""
    r = WebhookReceiver(secret="the-receivers-secret").start()
    yield r
    r.stop()


@pytest.fixture
def served(
    settings: Settings, receiver: WebhookReceiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    monkeypatch.setenv("CB_TEST_DUTY_SECRET", "the-services-secret")
    channels = tmp_path / "channels.yaml"
    spec = {"name": "duty", "type": "webhook", "url": receiver.url,
            "secret": {"env": "CB_TEST_DUTY_SECRET"}, "retry": {"first": "1s"}}  # fmt: skip
    channels.write_text(yaml.safe_dump({"channels": [spec]}))
    return settings.model_copy(update={"channels": channels, "dispatch_interval_s": 0.05})


def test_a_refused_message_is_listed_and_put_back_by_an_admin_over_http(
    served: Settings, receiver: WebhookReceiver, tokens: dict[str, str]
) -> None:
    warning_id = _open_warning(served.ledger)
    with TestClient(create_app(served), headers={"X-API-Key": tokens["officer"]}) as client:

        def failed() -> list[dict]:
            return client.get("/v1/deliveries", params={"state": "failed"}).json()["deliveries"]

        assert _wait(lambda: bool(failed())), client.get("/v1/deliveries").json()
        (dead,) = failed()
        assert dead["warning_id"] == warning_id and dead["channel"] == "duty"
        assert dead["attempts"] == 1 and dead["action"] == "opened"
        assert "401" in dead["last_error"] and "signature" in dead["last_error"]
        assert "refused" in dead["last_error"]  # not tried again by itself
        assert receiver.rejected and not receiver.received

        # the receiver is fixed (it now holds the service's secret) and an admin puts it back
        port = int(receiver.url.rsplit(":", 1)[1].strip("/"))
        receiver.stop()
        fixed = WebhookReceiver(secret="the-services-secret", port=port).start()
        try:
            admin = {"X-API-Key": tokens["admin"]}
            back = client.post("/v1/deliveries/retry", json={"channel": "duty"}, headers=admin)
            assert back.status_code == 200, back.text
            (row,) = back.json()["deliveries"]
            assert (row["id"], row["retried_by"]) == (dead["id"], "admin tester")

            def sent() -> bool:
                return client.get(f"/v1/deliveries/{dead['id']}").json()["state"] == "sent"

            assert _wait(sent)
            (message,) = fixed.received
            assert message["delivery_id"] == dead["id"] and message["id"] == warning_id
            assert message["message"].startswith("【橙色预警】鼓楼区")
            again = client.post(f"/v1/deliveries/{dead['id']}/retry", headers=admin)
            assert again.status_code == 422 and "delivered already" in again.json()["detail"]
            assert client.post("/v1/deliveries/nope/retry", headers=admin).status_code == 404
            unknown = client.post("/v1/deliveries/retry", json={"channel": "sms"}, headers=admin)
            assert unknown.status_code == 404 and "duty" in unknown.json()["detail"]
            bad = client.get("/v1/deliveries", params={"state": "lost"})
            assert bad.status_code == 422
        finally:
            fixed.stop()


def test_the_command_lists_dead_letters_and_puts_them_back(
    served: Settings, receiver: WebhookReceiver
) -> None:
    _open_warning(served.ledger)
    ledger = Ledger(served.ledger)
    try:
        (item,) = ledger.outbox()
        ledger.mark_failed(item.id, "DeliveryError: 401 (refused: not tried again)")
    finally:
        ledger.dispose()
    env = {"CITYBRAIN_HOME": str(served.home), "CITYBRAIN_LEDGER_URL": served.ledger}
    runner = CliRunner()
    listed = runner.invoke(main, ["deliveries", "list", "--state", "failed"], env=env)
    assert listed.exit_code == 0, listed.output
    assert item.id in listed.output and "refused" in listed.output
    usage = runner.invoke(main, ["deliveries", "retry"], env=env)
    assert usage.exit_code != 0 and "--failed" in usage.output
    back = runner.invoke(main, ["deliveries", "retry", "--failed"], env=env)
    assert back.exit_code == 0 and "1 message(s) back in the queue" in back.output
    ledger = Ledger(served.ledger)
    try:
        (row,) = ledger.outbox()
    finally:
        ledger.dispose()
    assert row.status == "pending" and row.retried_by is not None
    assert row.retried_by.startswith("cli:")
    missing = runner.invoke(main, ["deliveries", "retry", "nope"], env=env)
    assert missing.exit_code != 0 and "no outbox message" in missing.output


GOOD = {
    "channels": [
        {"name": "duty-webhook", "type": "webhook", "url": "https://ops.example.gov.cn/cb",
         "secret": {"env": "CB_TEST_DUTY_SECRET"}},
        {"name": "archive", "type": "webhook", "url": "http://127.0.0.1:9/archive"},
    ]
}  # fmt: skip


def _write(tmp_path: Path, raw: object) -> Path:
    path = tmp_path / "channels.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def test_the_service_joins_the_file_and_the_shorthand_and_logs_no_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("CB_TEST_DUTY_SECRET", "hunter2-值班")
    settings = Settings(
        home=tmp_path,
        channels=_write(tmp_path, GOOD),
        webhook_url="http://127.0.0.1:9/a,http://127.0.0.1:9/b",
        webhook_secret="shorthand-secret",
    )
    with caplog.at_level(logging.INFO, logger="serving.runtime"):
        channels = build_channels(settings)
    assert sorted(channels) == ["archive", "duty-webhook", "webhook", "webhook-2"]
    assert all(isinstance(c, WebhookChannel) for c in channels.values())
    assert channels["webhook-2"].signed  # type: ignore[attr-defined]
    logged = caplog.text
    assert "duty-webhook" in logged and "unsigned webhooks" in logged  # the archive signs not
    assert "hunter2" not in logged and "shorthand-secret" not in logged
    assert "shorthand-secret" not in repr(settings)
    clash = {"channels": [{**GOOD["channels"][1], "name": "webhook"}]}
    with pytest.raises(ConfigError, match="shorthand"):
        build_channels(settings.model_copy(update={"channels": _write(tmp_path, clash)}))
