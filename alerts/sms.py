"""SMS through a gateway over HTTP: one short text per recipient, cut to one message.

Gateways differ in their request, so the body is a template: a JSON object whose string values
may name ``$phone``, ``$text`` and ``$id`` (the idempotency key), e.g.
``{"mobile": "$phone", "content": "$text", "outId": "$id"}``. The text keeps what an officer
needs on a locked phone screen, in order: the level, the place, the time, the threshold and its
probability, and a short link (``link``: a URL template with ``$warning``, the warning's id, or
``$short``, its first 8 characters) to the details; it is cut to ``max_chars`` (70: one
Chinese SMS) by shortening the place, never the link.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from string import Template
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from alerts.channels import ChannelBase, Lang, payload_level, status_error
from alerts.messages import CITY_TZ, quantity
from alerts.retry import RetryPolicy

# what each domain measures, in the fewest characters (a warning's text says it at length)
_SHORT_ZH = {"waterlogging": "积水", "rivers": "水位", "hotline": "话务", "traffic": "车速"}


class SmsChannel(ChannelBase):
    """POSTs ``body`` (templated) to ``url`` once per recipient; a non-2xx answer fails."""

    def __init__(
        self,
        url: str,
        *,
        recipients: Sequence[str],
        body: Mapping[str, Any],
        name: str = "sms",
        headers: Mapping[str, str] | None = None,
        link: str | None = None,
        max_chars: int = 70,
        lang: Lang = "zh",
        timeout_s: float = 5.0,
        retry: RetryPolicy | None = None,
        tz: str = CITY_TZ,
    ) -> None:
        super().__init__(name=name, lang=lang, retry=retry)
        self.url, self.recipients = url, tuple(recipients)
        self._body, self._link, self.max_chars = dict(body), link, max_chars
        self._tz = ZoneInfo(tz)
        self._client = httpx.Client(timeout=timeout_s, headers=dict(headers or {}))

    def __repr__(self) -> str:  # headers may carry the gateway's key: never shown
        return f"SmsChannel({self.name!r}, {self.url!r}, to {len(self.recipients)})"

    def text(self, payload: Mapping[str, Any]) -> str:
        """The one-SMS text of a payload."""
        link = (
            Template(self._link).safe_substitute(
                warning=payload.get("id", ""), short=str(payload.get("id", ""))[:8]
            )
            if self._link
            else ""
        )
        when = payload.get("level_ts") or payload.get("peak_ts")
        clock = datetime.fromisoformat(when).astimezone(self._tz).strftime("%H:%M") if when else ""
        level, unit = payload_level(payload), str(payload.get("unit") or "")
        pct = round(100 * float((payload.get("probabilities") or {}).get(level.colour, 0.0)))
        below = payload.get("direction") == "below"
        threshold = payload.get("threshold")
        limit = quantity(float(threshold), unit, self.lang) if threshold is not None else ""
        lifted = payload.get("action") == "closed"
        if self.lang == "zh":
            head = f"【{level.name_zh}预警】"
            what = _SHORT_ZH.get(str(payload.get("domain")), "")
            side = "低于" if below else "超"
            fact = f"{clock}前后{what}或{side}{limit}({pct}%)" if limit else ""
            fact = "预警解除" if lifted else fact
            place = str(payload.get("label") or payload.get("area_id") or "").replace(" ", "")
        else:
            head = f"[{level.colour.upper()}] "
            side = "below" if below else "over"
            fact = f"{side} {limit} by {clock} ({pct}%)" if limit else ""
            fact = "lifted" if lifted else fact
            label = payload.get("label_en") or payload.get("label") or payload.get("area_id")
            place = str(label or "")
        tail = f" {link}" if link else ""
        room = self.max_chars - len(head) - len(fact) - len(tail) - 1
        if len(place) > room:  # the place gives way first, the link never
            place = place[: room - 1] + "…" if room >= 2 else ""
        body = f"{head}{place} {fact}".strip()
        return body[: max(self.max_chars - len(tail), 0)] + tail

    def _request(self, phone: str, text: str, key: str) -> Any:
        values = {"phone": phone, "text": text, "id": key}

        def fill(value: Any) -> Any:
            if isinstance(value, str):
                return Template(value).safe_substitute(values)
            if isinstance(value, Mapping):
                return {k: fill(v) for k, v in value.items()}
            if isinstance(value, list):
                return [fill(v) for v in value]
            return value

        return fill(self._body)

    def deliver(self, payload: Mapping[str, Any], *, key: str) -> None:
        text = self.text(payload)
        for phone in self.recipients:
            response = self._client.post(
                self.url, json=self._request(phone, text, f"{key}:{phone}")
            )
            if not response.is_success:
                raise status_error(f"{self.name} ({phone[-4:]})", response)

    def close(self) -> None:
        self._client.close()
