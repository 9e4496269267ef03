"""Delivery: channels that push a warning payload somewhere, and the outbox dispatcher.

Channels only know how to send one payload once; retrying belongs to the dispatcher, which works
from the ledger's outbox. So a message survives a crash or a receiver that is down for an hour,
every attempt is counted in the ledger, and a message that is given up on stays there, marked
failed with its last error. Delivery is at least once: receivers should deduplicate on the
payload's ``id``, ``action`` and ``updated_at``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

import httpx

from alerts.assessment import to_utc
from alerts.ledger import Ledger


class DeliveryError(Exception):
    """A receiver answered, but not with success."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


@runtime_checkable
class Channel(Protocol):
    """Anything that can send one payload; it raises on failure and never retries itself."""

    name: str
    max_attempts: int
    backoff_s: float

    def deliver(self, payload: Mapping[str, Any]) -> None: ...


class WebhookChannel:
    """POSTs the payload as UTF-8 JSON to a URL; any non-2xx answer is a failure.

    ``max_attempts`` and ``backoff_s`` are read by the :class:`Dispatcher`: the n-th retry waits
    ``backoff_s * 2**(n-1)`` seconds.
    """

    def __init__(
        self,
        url: str,
        *,
        name: str = "webhook",
        timeout_s: float = 5.0,
        max_attempts: int = 5,
        backoff_s: float = 1.0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.url = url
        self.name = name
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        base = {"content-type": "application/json; charset=utf-8"}
        self._client = httpx.Client(timeout=timeout_s, headers={**base, **(headers or {})})

    def deliver(self, payload: Mapping[str, Any]) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        response = self._client.post(self.url, content=body)
        if not response.is_success:
            raise DeliveryError(
                f"{self.url} answered {response.status_code}: {response.text[:200]}",
                status_code=response.status_code,
            )

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

    A row whose channel is not configured here is marked failed at once (with the reason), so
    a misconfiguration shows up in the ledger instead of a queue that silently grows.
    """

    def __init__(self, ledger: Ledger, channels: Mapping[str, Channel]) -> None:
        self.ledger = ledger
        self.channels = dict(channels)

    def dispatch_due(self, now: datetime | None = None) -> DispatchResult:
        """One pass over the rows due at ``now`` (default: the current time)."""
        now = to_utc(now, "now") if now is not None else datetime.now(UTC)
        sent = retried = failed = 0
        for item in self.ledger.due(now):
            channel = self.channels.get(item.channel)
            if channel is None:
                self.ledger.mark_failed(item.id, f"no channel named {item.channel!r} configured")
                failed += 1
                continue
            try:
                channel.deliver(item.payload)
            except Exception as err:  # any failure of a receiver is retried, never fatal
                error = f"{type(err).__name__}: {err}"
                if item.attempts + 1 >= channel.max_attempts:
                    self.ledger.mark_failed(item.id, error)
                    failed += 1
                else:
                    wait = timedelta(seconds=channel.backoff_s * 2**item.attempts)
                    self.ledger.mark_retry(item.id, error, now + wait)
                    retried += 1
            else:
                self.ledger.mark_sent(item.id, now=now)
                sent += 1
        return DispatchResult(sent, retried, failed)

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
