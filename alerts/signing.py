"""Signed webhooks: the receiver can tell our messages from anyone else's, and old ones replayed.

Each POST carries ``X-Citybrain-Timestamp`` (Unix seconds when sent) and
``X-Citybrain-Signature: v1=<hex>``, the HMAC-SHA256 with the channel's secret of the timestamp,
a dot and the raw body (the scheme Stripe and Slack use, so receivers know it). A receiver
recomputes it over the bytes it got, compares in constant time, and refuses a timestamp more
than a tolerance (5 minutes) from its clock: a message captured and sent again later fails.
``Idempotency-Key`` (the outbox id, also the body's ``delivery_id``) is the same on every try
of one message, so a receiver drops the duplicates that at-least-once delivery brings.

:func:`verify` is the check a Python receiver runs (the demo's receiver and the tests' do).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

TIMESTAMP_HEADER = "X-Citybrain-Timestamp"
SIGNATURE_HEADER = "X-Citybrain-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
TOLERANCE_S = 300


class SignatureError(Exception):
    """A message whose signature or timestamp does not check out (say which)."""


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Citybrain-Signature`` value of ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float,
    tolerance_s: float = TOLERANCE_S,
) -> None:
    """Check a received message (``headers``: its header names and values, in any case).

    Raises:
        SignatureError: no or malformed headers, a timestamp outside the tolerance (a replay
            or a wrong clock), or a signature that does not match the body.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    stamp, given = lower.get(TIMESTAMP_HEADER.lower()), lower.get(SIGNATURE_HEADER.lower())
    if not stamp or not given:
        raise SignatureError(f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER}")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise SignatureError(f"{TIMESTAMP_HEADER} is not Unix seconds: {stamp[:20]!r}") from None
    if abs(now - timestamp) > tolerance_s:
        raise SignatureError(
            f"timestamp {timestamp} is {now - timestamp:+.0f} s from now (tolerance "
            f"{tolerance_s:.0f} s): a replay, or a clock that is off"
        )
    if not hmac.compare_digest(signature(secret, timestamp, body), given):
        raise SignatureError("the signature does not match the body")
