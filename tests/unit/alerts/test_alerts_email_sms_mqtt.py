"""E-mail through a real local SMTP server (aiosmtpd), SMS through a local gateway that checks
its request, and MQTT through the real Mosquitto on loopback: what each receiver gets, and how
its refusals and hiccups are handled (a refusal dead-lettered, a hiccup tried again)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from alerts_builders import ORANGE, T0, ponding
from paho.mqtt import client as mqtt

from alerts import (
    Dispatcher,
    DispatchResult,
    EmailChannel,
    Ledger,
    MqttChannel,
    RetryPolicy,
    SmsChannel,
    WarningEngine,
    topic_of,
)

QUICK = RetryPolicy(first_s=1, longest_s=5, give_up_after_s=3600, jitter=0)


def _open(ledger: Ledger, channel: str) -> str:
    (change,) = WarningEngine(ledger, channels=(channel,)).evaluate(
        [ponding(ORANGE, high_value=21.0, label_en="Gulou Wuyi Road underpass")], T0
    )
    return change.warning.id


# --- e-mail -----------------------------------------------------------------------------------


class Mailbox:
    """aiosmtpd's handler: keeps each message; refuses (5xx) or defers (4xx) a recipient."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.answer_rcpt = "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if not self.answer_rcpt.startswith("250"):
            return self.answer_rcpt
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


def test_an_email_carries_the_warning_in_html_and_plain_text(
    ledger: Ledger, smtp: tuple[Mailbox, int]
) -> None:
    box, port = smtp
    _open(ledger, "email")
    channel = EmailChannel("127.0.0.1", port, sender="citybrain@ops.example.cn",
                           recipients=["duty@ops.example.cn"], name="email")  # fmt: skip
    assert Dispatcher(ledger, {"email": channel}).dispatch_due(T0) == DispatchResult(sent=1)
    (mail,) = box.messages
    (row,) = ledger.outbox()
    assert mail["Subject"] == "【橙色预警】鼓楼区 五一路下穿通道 积水"
    assert mail["Message-ID"] == f"<{row.id}@citybrain>" and mail["To"] == "duty@ops.example.cn"
    plain = mail.get_body(preferencelist=("plain",)).get_content()
    html = mail.get_body(preferencelist=("html",)).get_content()
    assert "积水深度超过15厘米的可能性为72%" in plain and row.id in plain
    assert "<h2 style='color:#FA6400'>" in html and "最深或达21厘米" in html


def test_a_refused_recipient_is_dead_lettered_and_a_deferral_is_tried_again(
    ledger: Ledger, smtp: tuple[Mailbox, int]
) -> None:
    box, port = smtp
    _open(ledger, "email")
    channel = EmailChannel(
        "127.0.0.1", port, sender="citybrain@ops.example.cn",
        recipients=["nobody@ops.example.cn"], name="email", retry=QUICK,
    )  # fmt: skip
    dispatcher = Dispatcher(ledger, {"email": channel})
    box.answer_rcpt = "451 4.3.0 mailbox busy, try later"
    assert dispatcher.dispatch_due(T0) == DispatchResult(retried=1)
    box.answer_rcpt = "550 5.1.1 no such user"
    (row,) = ledger.outbox()
    assert dispatcher.dispatch_due(row.next_attempt_at) == DispatchResult(failed=1)
    (row,) = ledger.outbox()
    assert row.status == "failed" and "550" in row.last_error and not box.messages


# --- SMS ----------------------------------------------------------------------------------------


class Gateway:
    """An SMS gateway: wants its API key, a JSON body with the mobile and content; 503 while
    ``busy``."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.busy = False
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.headers.get("X-Api-Key") != "gw-key":
                    status, answer = 401, {"code": "AUTH", "msg": "bad key"}
                elif gateway.busy:
                    status, answer = 503, {"code": "BUSY", "msg": "try later"}
                else:
                    gateway.requests.append(body)
                    status, answer = 200, {"code": "OK"}
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sms/send"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_an_sms_is_one_message_with_level_place_time_and_link(ledger: Ledger) -> None:
    gateway = Gateway()
    try:
        wid = _open(ledger, "sms")
        channel = SmsChannel(
            gateway.url, recipients=["13800000001", "13800000002"], name="sms", retry=QUICK,
            body={"mobile": "$phone", "content": "$text", "outId": "$id"},
            headers={"X-Api-Key": "gw-key"}, link="https://ops.example.cn/w/$short",
        )  # fmt: skip
        dispatcher = Dispatcher(ledger, {"sms": channel})
        gateway.busy = True
        assert dispatcher.dispatch_due(T0) == DispatchResult(retried=1)
        gateway.busy = False
        (row,) = ledger.outbox()
        assert dispatcher.dispatch_due(row.next_attempt_at) == DispatchResult(sent=1)
        first, second = gateway.requests
        assert (first["mobile"], second["mobile"]) == ("13800000001", "13800000002")
        text = first["content"]
        assert len(text) <= 70 and text.startswith("【橙色预警】鼓楼区五一路")
        assert " 15:40前后积水或超15厘米(72%) " in text
        assert text.endswith(f"https://ops.example.cn/w/{wid[:8]}")
        assert first["outId"] == f"{row.id}:13800000001"
        long_place = {"id": wid, "level": "red", "label": "很长的地名" * 20, "threshold": 20,
                      "unit": "cm", "probabilities": {"red": 0.9}, "domain": "waterlogging",
                      "level_ts": T0.isoformat()}  # fmt: skip
        cut = channel.text(long_place)
        assert len(cut) == 70 and "…" in cut and cut.endswith(wid[:8])  # the link survives
        assert "gw-key" not in repr(channel)
    finally:
        gateway.server.shutdown()


# --- MQTT ---------------------------------------------------------------------------------------

BROKER = ("127.0.0.1", 1883)


def _broker_up() -> bool:
    try:
        socket.create_connection(BROKER, timeout=1).close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _broker_up(), reason="Mosquitto is not reachable on 127.0.0.1:1883")
def test_each_areas_state_is_retained_on_its_topic_for_late_subscribers(ledger: Ledger) -> None:
    prefix = f"citybrain-test/{time.time_ns()}"
    _open(ledger, "mqtt")
    channel = MqttChannel(*BROKER, name="mqtt", prefix=prefix, retry=QUICK)
    assert Dispatcher(ledger, {"mqtt": channel}).dispatch_due(T0) == DispatchResult(sent=1)
    (row,) = ledger.outbox()
    topic = topic_of(prefix, row.payload)
    assert topic == f"{prefix}/waterlogging/gulou"

    got: list[mqtt.MQTTMessage] = []
    late = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    late.on_message = lambda client, userdata, message: got.append(message)
    late.connect(*BROKER)
    late.subscribe(f"{prefix}/#", qos=1)
    late.loop_start()
    deadline = time.monotonic() + 5
    while not got and time.monotonic() < deadline:
        time.sleep(0.05)
    late.loop_stop()
    late.disconnect()
    (message,) = got
    assert message.retain and message.topic == topic and message.qos == 1
    body = json.loads(message.payload)
    assert body["delivery_id"] == row.id and body["level"] == "orange"
    assert body["message"].startswith("【橙色预警】")
    cleanup = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    cleanup.connect(*BROKER)
    cleanup.loop_start()
    cleanup.publish(topic, b"", qos=1, retain=True).wait_for_publish(5)  # clear the retained
    cleanup.disconnect()
    cleanup.loop_stop()


def test_a_broker_that_is_not_there_is_tried_again(ledger: Ledger) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _open(ledger, "mqtt")
    channel = MqttChannel("127.0.0.1", port, name="mqtt", retry=QUICK)
    assert Dispatcher(ledger, {"mqtt": channel}).dispatch_due(T0) == DispatchResult(retried=1)
    assert "refused" in ledger.outbox()[0].last_error.lower()
