"""Acknowledgement links: an officer acknowledges a warning from the message on a phone.

Each message to a channel carries ``ack_url``: a link signed with the service's ack secret
(``itsdangerous``, HMAC-SHA256), naming the warning and the recipient (the roster's contacts
on that channel, else the channel), and expiring (24 h by default). Opening it shows the
warning and one button; pressing it records the acknowledgement in the ledger as done by that
recipient through the link. Opening alone never acknowledges: chat apps and mail scanners
fetch links to preview them, and a preview must not take charge of a flood.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from features import DataError

SALT = "citybrain-ack"


@dataclass(frozen=True)
class AckGrant:
    """What a valid link allows: acknowledging ``warning_id`` as ``recipient``."""

    warning_id: str
    recipient: str
    channel: str
    lang: str = "zh"


class AckLinkError(DataError):
    """A link that is not ours, was altered, or has expired (say which)."""


class AckLinks:
    """Makes and checks links under ``base_url`` (the service as officers' phones reach it)."""

    def __init__(
        self,
        secret: str,
        base_url: str,
        *,
        ttl_s: int = 24 * 3600,
        recipients: dict[str, str] | None = None,
    ) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt=SALT)
        self.base_url = base_url.rstrip("/")
        self.ttl_s = ttl_s
        self._recipients = dict(recipients or {})  # channel -> who reads it (the roster's)

    def url(self, warning_id: str, channel: str, lang: str = "zh") -> str:
        """The link for the message about ``warning_id`` sent to ``channel`` (whose readers
        read ``lang``)."""
        recipient = self._recipients.get(channel, channel)
        token = self._serializer.dumps({"w": warning_id, "r": recipient, "c": channel, "l": lang})
        return f"{self.base_url}/ack/{token}"

    def check(self, token: str) -> AckGrant:
        """What the token grants.

        Raises:
            AckLinkError: expired, altered or not ours.
        """
        try:
            data: Any = self._serializer.loads(token, max_age=self.ttl_s)
        except SignatureExpired:
            raise AckLinkError(
                f"this link has expired (links last {self.ttl_s / 3600:.0f} h); acknowledge "
                "in the dashboard or reply to the duty room",
                column="token",
            ) from None
        except BadSignature:
            raise AckLinkError(
                "this link is not valid (altered, or not ours)", column="token"
            ) from None
        if not isinstance(data, dict) or not {"w", "r", "c"} <= set(data):
            raise AckLinkError("this link is not valid (altered, or not ours)", column="token")
        return AckGrant(str(data["w"]), str(data["r"]), str(data["c"]), str(data.get("l", "zh")))
