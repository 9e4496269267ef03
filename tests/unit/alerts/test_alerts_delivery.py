"""Delivery through a real local HTTP receiver: success, retries with backoff, giving up."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from alerts_builders import ORANGE, T0, ponding

from alerts import DeliveryError, Dispatcher, DispatchResult, Ledger, WarningEngine, WebhookChannel


class Receiver:
    """A webhook endpoint on 127.0.0.1 that fails its first ``fail_first`` requests with 500."""

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.bodies: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        self.content_types: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.bodies.append(json.loads(body.decode("utf-8")))
                receiver.content_types.append(self.headers["Content-Type"])
                status = 500 if len(receiver.statuses) < receiver.fail_first else 200
                receiver.statuses.append(status)
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"server error" if status == 500 else b"ok")

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


def open_one_warning(ledger: Ledger) -> str:
    (change,) = WarningEngine(ledger).evaluate([ponding(ORANGE)], now=T0)
    return change.warning.id


def test_a_warning_reaches_the_receiver_as_utf8_json(ledger: Ledger, receiver: Receiver) -> None:
    wid = open_one_warning(ledger)
    channel = WebhookChannel(receiver.url, headers={"X-Token": "t"})
    result = Dispatcher(ledger, {"webhook": channel}).drain(timeout_s=5)
    channel.close()
    assert result == DispatchResult(sent=1)
    (body,) = receiver.bodies
    assert body["id"] == wid and body["action"] == "opened" and body["level"] == "orange"
    assert body["message_zh"].startswith("【橙色预警】鼓楼区")
    assert receiver.content_types == ["application/json; charset=utf-8"]
    (row,) = ledger.outbox()
    assert (row.status, row.attempts, row.last_error) == ("sent", 1, None)


def test_a_receiver_failing_twice_gets_the_message_on_the_third_attempt(
    ledger: Ledger, receiver: Receiver
) -> None:
    receiver.fail_first = 2
    open_one_warning(ledger)
    channel = WebhookChannel(receiver.url, max_attempts=5, backoff_s=0.05)
    result = Dispatcher(ledger, {"webhook": channel}).drain(timeout_s=5)
    assert result == DispatchResult(sent=1, retried=2, failed=0)
    assert receiver.statuses == [500, 500, 200]
    assert receiver.bodies[0] == receiver.bodies[2]
    (row,) = ledger.outbox()
    assert (row.status, row.attempts) == ("sent", 3)
    assert "500" in row.last_error


def test_a_receiver_that_always_fails_is_given_up_on_without_losing_the_message(
    ledger: Ledger, receiver: Receiver
) -> None:
    receiver.fail_first = 10**6
    wid = open_one_warning(ledger)
    channel = WebhookChannel(receiver.url, max_attempts=3, backoff_s=0.02)
    result = Dispatcher(ledger, {"webhook": channel}).drain(timeout_s=5)
    assert result == DispatchResult(sent=0, retried=2, failed=1)
    assert len(receiver.statuses) == 3
    (row,) = ledger.outbox()
    assert (row.status, row.attempts) == ("failed", 3)
    assert "DeliveryError" in row.last_error and "500" in row.last_error
    assert row.payload["id"] == wid and ledger.get(wid).status == "open"
    assert ledger.next_due_at() is None


def test_retries_back_off_exponentially_from_the_dispatch_time(
    ledger: Ledger, receiver: Receiver
) -> None:
    receiver.fail_first = 10**6
    open_one_warning(ledger)
    dispatcher = Dispatcher(ledger, {"webhook": WebhookChannel(receiver.url, backoff_s=60)})
    assert dispatcher.dispatch_due(now=T0) == DispatchResult(retried=1)
    assert ledger.next_due_at() == T0 + timedelta(seconds=60)
    assert dispatcher.dispatch_due(now=T0 + timedelta(seconds=59)) == DispatchResult()
    dispatcher.dispatch_due(now=T0 + timedelta(seconds=60))
    assert ledger.next_due_at() == T0 + timedelta(seconds=60 + 120)
    assert len(receiver.statuses) == 2


def test_drain_stops_at_its_timeout_when_the_next_retry_is_later(
    ledger: Ledger, receiver: Receiver
) -> None:
    receiver.fail_first = 10**6
    open_one_warning(ledger)
    dispatcher = Dispatcher(ledger, {"webhook": WebhookChannel(receiver.url, backoff_s=30)})
    assert dispatcher.drain(timeout_s=0.5) == DispatchResult(retried=1)
    assert ledger.outbox()[0].status == "pending"


def test_rows_for_a_channel_that_is_not_configured_are_marked_failed(ledger: Ledger) -> None:
    open_one_warning(ledger)
    assert Dispatcher(ledger, {}).dispatch_due(now=T0) == DispatchResult(failed=1)
    (row,) = ledger.outbox()
    assert row.status == "failed" and "no channel named 'webhook'" in row.last_error


def test_a_non_2xx_answer_raises_a_delivery_error(receiver: Receiver) -> None:
    receiver.fail_first = 1
    channel = WebhookChannel(receiver.url)
    with pytest.raises(DeliveryError) as err:
        channel.deliver({"hello": "世界"})
    assert err.value.status_code == 500
    channel.deliver({"hello": "世界"})
    assert receiver.bodies == [{"hello": "世界"}] * 2
