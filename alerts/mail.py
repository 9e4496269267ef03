"""E-mail to duty officers: one message per warning change, HTML with a plain-text part.

Sent over SMTP (``smtplib``; STARTTLS and login where the server wants them). The subject is
the warning's heading, the body its text and the facts an officer checks (level, place, when,
how likely, what to do), and the ``Message-ID`` is made from the idempotency key, so a mail
system that sees a message twice (at-least-once delivery) can tell. A 5xx answer (a recipient
or sender refused) is a refusal, dead-lettered; a 4xx or a connection that fails is tried again.
"""

from __future__ import annotations

import html
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from alerts.channels import ChannelBase, DeliveryError, Lang, payload_level
from alerts.retry import RetryPolicy

_LABELS = {
    "zh": ("级别", "地点", "预计时间", "处置建议", "编号"),
    "en": ("Level", "Place", "Expected", "To do", "Reference"),
}


class EmailChannel(ChannelBase):
    """SMTP to ``recipients`` from ``sender``; ``username``/``password`` when the server asks."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        sender: str,
        recipients: Sequence[str],
        name: str = "email",
        starttls: bool = False,
        username: str | None = None,
        password: str | None = None,
        lang: Lang = "zh",
        timeout_s: float = 10.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        super().__init__(name=name, lang=lang, retry=retry)
        self.host, self.port, self.sender = host, port, sender
        self.recipients = tuple(recipients)
        self._starttls, self._timeout = starttls, timeout_s
        self._login = (username, password) if username is not None else None

    def __repr__(self) -> str:  # never the password
        return f"EmailChannel({self.name!r}, {self.host}:{self.port}, to {len(self.recipients)})"

    def message(self, payload: Mapping[str, Any], key: str) -> EmailMessage:
        """The e-mail of one payload."""
        lang = self.lang
        text = str(payload.get(f"message_{lang}") or payload.get("message_zh") or "")
        subject = text.split("：", 1)[0] if lang == "zh" else text.split(": ", 1)[0]
        place = payload.get("label_en" if lang == "en" else "label") or payload.get("area_id")
        todo = payload.get(f"action_{lang}") or ""
        facts = [
            str(payload.get("level", "")),
            str(place),
            str(payload.get("level_ts") or payload.get("peak_ts") or ""),
            str(todo),
            key,
        ]
        msg = EmailMessage()
        msg["Subject"] = subject[:200]
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.recipients)
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = f"<{key}@citybrain>"
        msg["X-Citybrain-Delivery-Id"] = key
        ack = payload.get("ack_url")
        ack_word = "确认收到" if lang == "zh" else "Acknowledge"
        plain = [text, ""] + [f"{k}: {v}" for k, v in zip(_LABELS[lang], facts, strict=True) if v]
        if ack:
            plain += ["", f"{ack_word}: {ack}"]
        msg.set_content("\n".join(plain))
        colour = payload_level(payload).hex
        rows = "".join(
            f"<tr><th align='left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
            for k, v in zip(_LABELS[lang], facts, strict=True)
            if v
        )
        msg.add_alternative(
            f"<html><body><h2 style='color:{colour}'>{html.escape(subject)}</h2>"
            f"<p>{html.escape(text)}</p><table>{rows}</table>"
            + (f"<p><a href='{html.escape(str(ack))}'>{ack_word}</a></p>" if ack else "")
            + "</body></html>",
            subtype="html",
        )
        return msg

    def deliver(self, payload: Mapping[str, Any], *, key: str) -> None:
        msg = self.message(payload, key)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self._timeout) as smtp:
                if self._starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self._login is not None:
                    smtp.login(*self._login)  # type: ignore[arg-type]
                refused = smtp.send_message(msg)
        except smtplib.SMTPResponseException as err:
            raise DeliveryError(
                f"{self.name}: {self.host} answered {err.smtp_code} {err.smtp_error!r}"[:300],
                status_code=err.smtp_code,
                retryable=err.smtp_code < 500,
            ) from None
        except smtplib.SMTPRecipientsRefused as err:
            codes = [code for code, _ in err.recipients.values()]
            raise DeliveryError(
                f"{self.name}: every recipient refused {codes}",
                retryable=all(c < 500 for c in codes),
            ) from None
        if refused:  # some recipients took it, others did not: said, not retried for them
            raise DeliveryError(
                f"{self.name}: refused for {sorted(refused)} (the others have it)", retryable=False
            )
