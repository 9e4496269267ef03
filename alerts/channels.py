"""Delivery: channels that push a warning payload somewhere, and the outbox dispatcher.

Channels only know how to send one payload once; retrying belongs to the dispatcher, which works
from the ledger's outbox. So a message survives a crash or a receiver that is down for hours
(:mod:`alerts.retry`: exponential back-off with jitter, given up on only after a deadline, 48 h
by default), every attempt is counted in the ledger, and a message that is given up on stays
there, marked failed with its last error, until someone puts it back
(:meth:`Dispatcher.retry`). Delivery is at least once: every try of one message carries the
same idempotency key (the outbox id: ``Idempotency-Key`` and the body's ``delivery_id``), on
which receivers drop duplicates.
"""

from __future__ import annotations

import json
import random
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol, runtime_checkable

import httpx

from alerts.ack_links import AckLinks
from alerts.assessment import to_utc
from alerts.ledger import Ledger
from alerts.levels import Level
from alerts.records import OutboxItem
from alerts.retry import RetryPolicy
from alerts.signing import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, signature
from features import ConfigError, NotFoundError

Lang = Literal["zh", "en"]

# changes whose message asks someone to take charge: they carry a link to acknowledge
ACKABLE = frozenset({"opened", "reopened", "escalated", "deescalated", "paged", "renotified"})
# answers worth trying again: the receiver is busy or broken now, not refusing this message
RETRYABLE_STATUS = frozenset({408, 425, 429})


class DeliveryError(Exception):
    """A receiver answered, but not with success. ``retryable`` False: it refused this message
    (a bad request, a wrong secret), so trying again cannot help and it is dead-lettered at
    once; ``retry_after_s``: the receiver asked to be left alone that long."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        retryable: bool = True,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.retryable = retryable
        self.retry_after_s = retry_after_s


@runtime_checkable
class Channel(Protocol):
    """Anything that can send one payload; it raises on failure and never retries itself.

    ``key`` is the message's idempotency key, the same on every try."""

    name: str
    retry: RetryPolicy

    def deliver(self, payload: Mapping[str, Any], *, key: str) -> None: ...


@runtime_checkable
class BatchChannel(Channel, Protocol):
    """A channel that takes at most ``per_minute`` messages and can carry several payloads in
    one (a group robot): the dispatcher batches rather than exceed or drop."""

    per_minute: int

    def batches(self, payloads: Sequence[Mapping[str, Any]], room: int) -> list[list[int]]: ...

    def deliver_many(self, payloads: Sequence[Mapping[str, Any]]) -> None: ...


def status_error(where: str, response: httpx.Response) -> DeliveryError:
    """The :class:`DeliveryError` of an HTTP answer that is not a success: 5xx and the busy
    4xx answers are retried (honouring ``Retry-After`` in seconds), other 4xx are not."""
    code = response.status_code
    after = response.headers.get("retry-after", "")
    return DeliveryError(
        f"{where} answered {code}: {response.text[:200]}",
        status_code=code,
        retryable=code >= 500 or code in RETRYABLE_STATUS,
        retry_after_s=float(after) if after.replace(".", "", 1).isdigit() else None,
    )


def payload_level(payload: Mapping[str, Any]) -> Level:
    """The level a payload announces (NONE where it names none): what channels colour and
    name it by."""
    try:
        return Level.parse(str(payload.get("level") or "none"))
    except ConfigError:
        return Level.NONE


class ChannelBase:
    """What every channel keeps: its name (what rosters and the outbox call it), the language
    of the messages it sends, and its retry policy."""

    def __init__(self, *, name: str, lang: Lang = "zh", retry: RetryPolicy | None = None) -> None:
        self.name = name
        self.lang: Lang = lang
        self.retry = retry or RetryPolicy()


class WebhookChannel(ChannelBase):
    """POSTs the payload as UTF-8 JSON to a URL, signed when it has a secret
    (:mod:`alerts.signing`); any non-2xx answer is a failure.

    The body is the warning's payload with ``delivery_id`` (the idempotency key) and, in the
    receiver's language ``lang``, ``message``; both languages' texts stay in it."""

    def __init__(
        self,
        url: str,
        *,
        name: str = "webhook",
        secret: str | None = None,
        lang: Lang = "zh",
        timeout_s: float = 5.0,
        retry: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(name=name, lang=lang, retry=retry)
        self.url = url
        self._secret = secret
        base = {"content-type": "application/json; charset=utf-8"}
        self._client = httpx.Client(timeout=timeout_s, headers={**base, **(headers or {})})

    @property
    def signed(self) -> bool:
        return self._secret is not None

    def __repr__(self) -> str:  # never the secret
        signed = "signed" if self._secret else "unsigned"
        return f"WebhookChannel({self.name!r}, {self.url!r}, {signed}, lang={self.lang!r})"

    def body(self, payload: Mapping[str, Any], key: str) -> bytes:
        """The bytes sent for ``payload`` (what the signature covers)."""
        message = payload.get(f"message_{self.lang}") or payload.get("message_zh")
        full = {**payload, "delivery_id": key, "lang": self.lang, "message": message}
        return json.dumps(full, ensure_ascii=False).encode("utf-8")

    def deliver(self, payload: Mapping[str, Any], *, key: str) -> None:
        body = self.body(payload, key)
        headers = {IDEMPOTENCY_HEADER: key}
        if self._secret is not None:
            stamp = int(time.time())
            headers[TIMESTAMP_HEADER] = str(stamp)
            headers[SIGNATURE_HEADER] = signature(self._secret, stamp, body)
        response = self._client.post(self.url, content=body, headers=headers)
        if not response.is_success:
            raise status_error(self.url, response)

    def close(self) -> None:
        self._client.close()


@dataclass(frozen=True)
class DispatchResult:
    """Counts of one dispatch pass (or of several, added up)."""

    sent: int = 0
    retried: int = 0
    failed: int = 0

    def __add__(self, other: DispatchResult) -> DispatchResult:
        return DispatchResult(
            self.sent + other.sent, self.retried + other.retried, self.failed + other.failed
        )


class Dispatcher:
    """Sends due outbox rows through their channels and records each attempt in the ledger.

    A failed try is retried on the channel's :class:`RetryPolicy` until its deadline, then
    dead-lettered (failed, with the last error); a receiver that refuses the message outright
    (:class:`DeliveryError` not retryable) dead-letters it at once. A row whose channel is not
    configured here is marked failed at once (with the reason), so a misconfiguration shows up
    in the ledger instead of a queue that silently grows.
    """

    def __init__(
        self,
        ledger: Ledger,
        channels: Mapping[str, Channel],
        *,
        rng: random.Random | None = None,
        wake: Callable[[], None] = lambda: None,
        links: AckLinks | None = None,
    ) -> None:
        self.ledger = ledger
        self.channels = dict(channels)
        self._links = links  # each message to a person carries a link to acknowledge it
        self._rng = rng or random.Random()
        self._wake = wake  # tells the delivery loop that messages are due now
        self._sent_at: dict[str, deque[datetime]] = {}  # batch channels' messages, last minute

    def dispatch_due(self, now: datetime | None = None) -> DispatchResult:
        """One pass over the rows due at ``now`` (default: the current time)."""
        now = to_utc(now, "now") if now is not None else datetime.now(UTC)
        total = DispatchResult()
        batched: dict[str, list[OutboxItem]] = {}
        for item in self.ledger.due(now):
            channel = self.channels.get(item.channel)
            if channel is None:
                why = f"no channel named {item.channel!r} configured"
                self.ledger.mark_failed(item.id, why, now=now)
                total += DispatchResult(failed=1)
            elif isinstance(channel, BatchChannel):
                batched.setdefault(item.channel, []).append(item)
            else:
                total += self._send(channel, [item], now)
        for name, items in batched.items():
            total += self._send_batched(self.channels[name], items, now)  # type: ignore[arg-type]
        return total

    def _send(self, channel: Channel, items: Sequence[OutboxItem], now: datetime) -> DispatchResult:
        """One message carrying ``items`` (several only through a :class:`BatchChannel`): all
        sent, or each retried or dead-lettered."""
        try:
            if len(items) == 1:
                channel.deliver(self._payload(items[0]), key=items[0].id)
            else:
                assert isinstance(channel, BatchChannel)
                channel.deliver_many([self._payload(i) for i in items])
        except Exception as err:  # any failure of a receiver is handled, never fatal
            again = sum(self._after_failure(item, channel, err, now) for item in items)
            return DispatchResult(retried=again, failed=len(items) - again)
        for item in items:
            self.ledger.mark_sent(item.id, now=now)
        return DispatchResult(sent=len(items))

    def _payload(self, item: OutboxItem) -> Mapping[str, Any]:
        """What is sent: the queued payload, with a link to acknowledge a warning that is
        open and unacknowledged when it was queued."""
        if self._links is None or item.payload.get("action") not in ACKABLE:
            return item.payload
        lang = getattr(self.channels.get(item.channel), "lang", "zh")
        return {**item.payload, "ack_url": self._links.url(item.warning_id, item.channel, lang)}

    def _send_batched(
        self, channel: BatchChannel, items: list[OutboxItem], now: datetime
    ) -> DispatchResult:
        """The due items of a channel with a per-minute limit: one message each while the
        minute has room, else several to a message; none when the minute is full (they wait
        for it, which is no failed try)."""
        window = self._sent_at.setdefault(channel.name, deque())
        while window and now - window[0] >= timedelta(minutes=1):
            window.popleft()
        room = channel.per_minute - len(window)
        if room <= 0:
            self.ledger.postpone([i.id for i in items], window[0] + timedelta(minutes=1))
            return DispatchResult()
        total = DispatchResult()
        payloads = [i.payload for i in items]
        for group in channel.batches(payloads, room):
            window.append(now)
            total += self._send(channel, [items[i] for i in group], now)
        return total

    def _after_failure(
        self, item: OutboxItem, channel: Channel, err: Exception, now: datetime
    ) -> bool:
        """Schedule the next try, or dead-letter the message; whether it will be tried again."""
        error = f"{type(err).__name__}: {err}"
        policy = channel.retry
        if isinstance(err, DeliveryError) and not err.retryable:
            self.ledger.mark_failed(item.id, f"{error} (refused: not tried again)", now=now)
            return False
        wait = policy.wait(item.attempts + 1, self._rng)
        if isinstance(err, DeliveryError) and err.retry_after_s is not None:
            wait = max(wait, err.retry_after_s)
        # the deadline runs on this clock: from the first try, or from the last putting back
        deadline = policy.deadline(item.retried_at or item.first_tried_at or now)
        if now + timedelta(seconds=wait) > deadline:
            given = timedelta(seconds=policy.give_up_after_s)
            why = f"{error} (given up {given} after its first try)"
            self.ledger.mark_failed(item.id, why, now=now)
            return False
        self.ledger.mark_retry(item.id, error, now + timedelta(seconds=wait), now=now)
        return True

    def retry(
        self,
        ids: Sequence[str] = (),
        *,
        channel: str | None = None,
        by: str,
        now: datetime | None = None,
    ) -> list[OutboxItem]:
        """Put messages back in the queue, due now with a fresh deadline: the given ids (failed
        or pending), or every failed one (of ``channel``). Recorded as done by ``by``."""
        now = to_utc(now, "now") if now is not None else datetime.now(UTC)
        if channel is not None and channel not in self.channels:
            raise NotFoundError(
                f"no channel named {channel!r}; configured: {sorted(self.channels) or 'none'}"
            )
        requeued = self.ledger.requeue(ids, channel=channel, by=by, now=now)
        if requeued:
            self._wake()
        return requeued

    def drain(self, timeout_s: float) -> DispatchResult:
        """Dispatch until nothing pending is due within ``timeout_s`` from now; return totals.

        Sleeps until the next retry is due, so with short backoffs a test can wait for the whole
        retry sequence; the server's background loop calls it with its polling interval.
        """
        deadline = time.monotonic() + timeout_s
        total = DispatchResult()
        while True:
            total += self.dispatch_due()
            due_at = self.ledger.next_due_at()
            if due_at is None:
                return total
            wait = (due_at - datetime.now(UTC)).total_seconds()
            if time.monotonic() + max(wait, 0.0) > deadline:
                return total
            if wait > 0:
                time.sleep(wait)
