"""Delivery through a real local HTTP receiver: success, retries on the channel's policy with
back-off, dead letters at the deadline or on a refusal, putting them back, the same idempotency
key on every try, and HMAC signatures the receiver checks by hand."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from alerts_builders import ORANGE, T0, ponding

from alerts import (
    DeliveryError,
    Dispatcher,
    DispatchResult,
    Ledger,
    RetryPolicy,
    SignatureError,
    WarningEngine,
    WebhookChannel,
    verify_signature,
)

QUICK = RetryPolicy(first_s=0.02, factor=2, longest_s=0.1, give_up_after_s=60, jitter=0)


class Receiver:
    """A webhook endpoint on 127.0.0.1 that answers its first ``fail_first`` requests with
    ``fail_status`` (500; ``retry_after`` in a Retry-After header when set), then 200; it keeps
    each request's raw body and headers."""

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.fail_status = 500
        self.retry_after: str | None = None
        self.bodies: list[dict[str, Any]] = []
        self.raw: list[bytes] = []
        self.headers: list[dict[str, str]] = []
        self.statuses: list[int] = []
        self.content_types: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.raw.append(body)
                receiver.headers.append({k.lower(): v for k, v in self.headers.items()})
                receiver.bodies.append(json.loads(body.decode("utf-8")))
                receiver.content_types.append(self.headers["Content-Type"])
                failing = len(receiver.statuses) < receiver.fail_first
                status = receiver.fail_status if failing else 200
                receiver.statuses.append(status)
                self.send_response(status)
                if failing and receiver.retry_after is not None:
                    self.send_header("Retry-After", receiver.retry_after)
                self.end_headers()
                self.wfile.write(b"refused" if failing else b"ok")

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
    channel = WebhookChannel(receiver.url, retry=QUICK)
    result = Dispatcher(ledger, {"webhook": channel}).drain(timeout_s=5)
    assert result == DispatchResult(sent=1, retried=2, failed=0)
    assert receiver.statuses == [500, 500, 200]
    assert receiver.bodies[0] == receiver.bodies[2]
    # every try carries the same idempotency key: the outbox id, in a header and the body
    (row,) = ledger.outbox()
    assert [h["idempotency-key"] for h in receiver.headers] == [row.id] * 3
    assert {b["delivery_id"] for b in receiver.bodies} == {row.id}
    assert (row.status, row.attempts) == ("sent", 3)
    assert "500" in row.last_error


def test_a_receiver_down_past_the_deadline_leaves_a_dead_letter_that_is_put_back(
    ledger: Ledger, receiver: Receiver
) -> None:
    """Given up on only at the channel's deadline (not after a count of tries), kept with its
    last error, and delivered once an admin puts it back after the receiver is fixed."""
    receiver.fail_first = 10**6
    wid = open_one_warning(ledger)
    policy = RetryPolicy(first_s=60, factor=2, longest_s=600, give_up_after_s=3600, jitter=0)
    dispatcher = Dispatcher(ledger, {"webhook": WebhookChannel(receiver.url, retry=policy)})
    now, tries = T0, 0
    while ledger.next_due_at() is not None:
        now = ledger.next_due_at()
        dispatcher.dispatch_due(now=now)
        tries += 1
    # tries at 0, 60, 180, 420, 900, 1500, 2100, 2700 and 3300 s: the next would pass the hour
    assert tries == 9 and now == T0 + timedelta(seconds=60 + 120 + 240 + 480 + 600 * 4)
    (row,) = ledger.outbox()
    assert (row.status, row.attempts) == ("failed", 9)
    assert "500" in row.last_error and "given up 1:00:00 after its first try" in row.last_error
    assert row.payload["id"] == wid and ledger.get(wid).status == "open"
    assert ledger.outbox(status="failed") == [row]

    receiver.fail_first = 0
    later = T0 + timedelta(hours=5)
    (back,) = dispatcher.retry(by="ops admin", now=later)
    assert (back.status, back.retried_by, back.retried_at) == ("pending", "ops admin", later)
    assert dispatcher.dispatch_due(now=later) == DispatchResult(sent=1)
    (row,) = ledger.outbox()
    assert (row.status, row.attempts, row.retried_by) == ("sent", 10, "ops admin")
    assert receiver.bodies[-1]["delivery_id"] == row.id  # the same key as every earlier try


def test_a_refusal_is_dead_lettered_at_once_and_a_busy_receiver_is_left_alone_as_asked(
    ledger: Ledger, receiver: Receiver
) -> None:
    receiver.fail_first, receiver.fail_status = 1, 400
    open_one_warning(ledger)
    policy = RetryPolicy(first_s=0.02, longest_s=0.1, give_up_after_s=3600, jitter=0)
    dispatcher = Dispatcher(ledger, {"webhook": WebhookChannel(receiver.url, retry=policy)})
    assert dispatcher.dispatch_due(now=T0) == DispatchResult(failed=1)
    (row,) = ledger.outbox()
    assert row.status == "failed" and "400" in row.last_error and "refused" in row.last_error

    receiver.fail_first, receiver.fail_status, receiver.retry_after = 2, 429, "120"
    assert len(dispatcher.retry([row.id], by="ops admin", now=T0)) == 1
    assert dispatcher.dispatch_due(now=T0) == DispatchResult(retried=1)
    assert ledger.next_due_at() == T0 + timedelta(seconds=120)  # not the policy's 0.02 s


def test_retries_back_off_exponentially_from_the_dispatch_time(
    ledger: Ledger, receiver: Receiver
) -> None:
    receiver.fail_first = 10**6
    open_one_warning(ledger)
    policy = RetryPolicy(first_s=60, give_up_after_s=86400, jitter=0)
    dispatcher = Dispatcher(ledger, {"webhook": WebhookChannel(receiver.url, retry=policy)})
    assert dispatcher.dispatch_due(now=T0) == DispatchResult(retried=1)
    assert ledger.next_due_at() == T0 + timedelta(seconds=60)
    assert dispatcher.dispatch_due(now=T0 + timedelta(seconds=59)) == DispatchResult()
    dispatcher.dispatch_due(now=T0 + timedelta(seconds=60))
    assert ledger.next_due_at() == T0 + timedelta(seconds=60 + 120)
    assert len(receiver.statuses) == 2


def test_jitter_spreads_the_waits_within_their_bounds() -> None:
    policy = RetryPolicy(first_s=10, factor=2, longest_s=600, jitter=0.5)
    rng = random.Random(7)
    waits = [policy.wait(3, rng) for _ in range(200)]
    assert min(waits) >= 20 and max(waits) <= 40 and len({round(w, 3) for w in waits}) > 150


def test_the_default_schedule_survives_a_receiver_down_for_hours() -> None:
    """The documented schedule: 5 s doubling to 10 min, given up after 48 hours."""
    waits = RetryPolicy().schedule()
    assert waits[:8] == [5, 10, 20, 40, 80, 160, 320, 600]
    assert set(waits[7:]) == {600} and 280 < len(waits) < 300
    assert sum(waits) <= 48 * 3600 < sum(waits) + 600


def test_drain_stops_at_its_timeout_when_the_next_retry_is_later(
    ledger: Ledger, receiver: Receiver
) -> None:
    receiver.fail_first = 10**6
    open_one_warning(ledger)
    policy = RetryPolicy(first_s=30, jitter=0)
    dispatcher = Dispatcher(ledger, {"webhook": WebhookChannel(receiver.url, retry=policy)})
    assert dispatcher.drain(timeout_s=0.5) == DispatchResult(retried=1)
    assert ledger.outbox()[0].status == "pending"


def test_a_signed_message_checks_out_by_hand_and_fails_when_altered_or_replayed(
    ledger: Ledger, receiver: Receiver
) -> None:
    """The receiver's own check, written here from the documented scheme (not our code):
    HMAC-SHA256 of "<timestamp>." + body; an altered body or an old timestamp fails it."""
    open_one_warning(ledger)
    channel = WebhookChannel(receiver.url, secret="s3cret-值班", lang="en")
    Dispatcher(ledger, {"webhook": channel}).drain(timeout_s=5)
    (raw,), (headers,) = receiver.raw, receiver.headers
    stamp = headers["x-citybrain-timestamp"]
    assert abs(int(stamp) - time.time()) < 30
    mac = hmac.new("s3cret-值班".encode(), stamp.encode() + b"." + raw, hashlib.sha256)
    assert headers["x-citybrain-signature"] == f"v1={mac.hexdigest()}"
    body = json.loads(raw)
    assert body["lang"] == "en" and body["message"] == body["message_en"]
    given = {k: v for k, v in headers.items()}
    verify_signature("s3cret-值班", given, raw, now=time.time())
    with pytest.raises(SignatureError, match="does not match"):
        verify_signature("s3cret-值班", given, raw.replace(b"orange", b"yellow"), now=time.time())
    with pytest.raises(SignatureError, match="does not match"):
        verify_signature("another secret", given, raw, now=time.time())
    with pytest.raises(SignatureError, match="replay"):
        verify_signature("s3cret-值班", given, raw, now=time.time() + 3600)
    with pytest.raises(SignatureError, match="missing"):
        verify_signature("s3cret-值班", {}, raw, now=time.time())
    assert "s3cret" not in repr(channel) and "signed" in repr(channel)


def test_rows_for_a_channel_that_is_not_configured_are_marked_failed(ledger: Ledger) -> None:
    open_one_warning(ledger)
    assert Dispatcher(ledger, {}).dispatch_due(now=T0) == DispatchResult(failed=1)
    (row,) = ledger.outbox()
    assert row.status == "failed" and "no channel named 'webhook'" in row.last_error


def test_a_non_2xx_answer_raises_a_delivery_error(receiver: Receiver) -> None:
    receiver.fail_first = 1
    channel = WebhookChannel(receiver.url)
    with pytest.raises(DeliveryError) as err:
        channel.deliver({"hello": "世界"}, key="k1")
    assert err.value.status_code == 500 and err.value.retryable
    channel.deliver({"hello": "世界"}, key="k1")
    assert [b["hello"] for b in receiver.bodies] == ["世界"] * 2
