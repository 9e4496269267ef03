"""Group robots: DingTalk (钉钉) custom robots and WeCom (企业微信) group robots, where duty
officers in a Chinese city read their warnings.

Both take a markdown message by HTTP POST to a webhook whose URL carries the robot's token, and
both answer HTTP 200 with ``{"errcode": 0, "errmsg": "ok"}``, or another ``errcode``: their
errors are read from the body, not the status. A DingTalk robot set to sign ("加签") wants
``timestamp`` (ms) and ``sign`` (the URL-encoded Base64 of the HMAC-SHA256, keyed by the
robot's secret, of ``timestamp + "\\n" + secret``) in the URL, within an hour of its clock.

Each robot takes at most 20 messages a minute and refuses more (DingTalk ``410100`` and ten
minutes of silence, WeCom ``45009``). The dispatcher keeps under that by batching: when more
warnings are due than the minute has room for, several go out as one message
(:meth:`RobotChannel.deliver_many`), so a storm's twenty warnings still reach the group at
once and none is dropped.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from alerts.channels import ChannelBase, DeliveryError, Lang, payload_level, status_error
from alerts.levels import Level
from alerts.retry import RetryPolicy

PER_MINUTE = 20
# errcodes meaning "later", not "never": too fast, system busy
_BUSY = {"dingtalk": {410100, -1}, "wecom": {45009, -1}}


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's ``sign`` for a request at ``timestamp_ms`` (URL-encoded)."""
    mac = hmac.new(
        secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256
    ).digest()
    return urllib.parse.quote_plus(base64.b64encode(mac).decode())


class RobotChannel(ChannelBase):
    """What the two robots share: markdown from payloads, one message or a batch, errcodes."""

    kind = "robot"
    per_minute = PER_MINUTE
    max_bytes = 4000

    def __init__(
        self,
        webhook: str,
        *,
        name: str,
        lang: Lang = "zh",
        timeout_s: float = 5.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        super().__init__(name=name, lang=lang, retry=retry)
        self._webhook = webhook  # carries the robot's token: never logged
        self._client = httpx.Client(timeout=timeout_s)

    def __repr__(self) -> str:
        host = urllib.parse.urlsplit(self._webhook).netloc
        return f"{type(self).__name__}({self.name!r}, {host!r}, lang={self.lang!r})"

    def close(self) -> None:
        self._client.close()

    # what goes out ---------------------------------------------------------------------------

    def _text(self, payload: Mapping[str, Any]) -> str:
        return str(payload.get(f"message_{self.lang}") or payload.get("message_zh") or "")

    def _title(self, payload: Mapping[str, Any]) -> str:
        level = str(payload.get("level", ""))
        place = payload.get("label_en" if self.lang == "en" else "label") or payload.get("area_id")
        word = {"zh": "预警", "en": "warning"}[self.lang]
        return f"{place} {level} {word}" if self.lang == "en" else f"{place} {word}"

    def _colour(self, level: Level) -> str:
        """The font colour of a level's heading."""
        return level.hex

    def _entry(self, payload: Mapping[str, Any]) -> str:
        """A warning's text, its bracketed level heading in bold and the level's colour."""
        text = self._text(payload)
        head, _, rest = text.partition("】") if text.startswith("【") else ("", "", text)
        if not head:
            return text
        colour = self._colour(payload_level(payload))
        return f'<font color="{colour}">**{head}】**</font>{rest}'

    def _ack(self, payload: Mapping[str, Any]) -> str:
        url = payload.get("ack_url")
        if not url:
            return ""
        return f" [确认收到]({url})" if self.lang == "zh" else f" [Acknowledge]({url})"

    def markdown(self, payloads: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
        """A title and markdown body for one warning, or several as one message; each with
        its link to acknowledge, where it has one."""
        if len(payloads) == 1:
            return self._title(payloads[0]), self._entry(payloads[0]) + self._ack(payloads[0])
        count = len(payloads)
        title = f"{count}条预警" if self.lang == "zh" else f"{count} warnings"
        body = "\n\n".join(f"- {self._entry(p)}{self._ack(p)}" for p in payloads)
        return title, f"#### {title}\n\n{body}"

    def batches(self, payloads: Sequence[Mapping[str, Any]], room: int) -> list[list[int]]:
        """The payloads' positions grouped into at most ``room`` messages (each under the
        robot's size limit where it can be), in order: one each while there is room."""
        if room <= 0:
            return []
        if len(payloads) <= room:
            return [[i] for i in range(len(payloads))]
        n = len(payloads)
        base, extra = divmod(n, room)  # ``room`` groups, as even as they come
        bounds = [i * base + min(i, extra) for i in range(room + 1)]
        groups = [list(range(a, b)) for a, b in itertools.pairwise(bounds)]
        out: list[list[int]] = []
        for group in groups:  # split a group whose text passes the limit
            part: list[int] = []
            for i in group:
                trial = [payloads[j] for j in [*part, i]]
                if part and len(self.markdown(trial)[1].encode()) > self.max_bytes:
                    out.append(part)
                    part = []
                part.append(i)
            out.append(part)
        return out

    # sending ---------------------------------------------------------------------------------

    def deliver(self, payload: Mapping[str, Any], *, key: str) -> None:
        self.deliver_many([payload])

    def deliver_many(self, payloads: Sequence[Mapping[str, Any]]) -> None:
        """Send the payloads as one message; raises :class:`DeliveryError` on any refusal."""
        title, text = self.markdown(payloads)
        response = self._client.post(self._url(), json=self._body(title, text))
        if not response.is_success:
            raise status_error(self.name, response)
        try:
            answer = response.json()
        except ValueError:
            raise DeliveryError(f"{self.name} answered {response.text[:200]!r}, not JSON") from None
        code = answer.get("errcode", -1)
        if code != 0:
            busy = code in _BUSY[self.kind]
            raise DeliveryError(
                f"{self.name} answered errcode {code}: {str(answer.get('errmsg'))[:200]}",
                status_code=response.status_code,
                retryable=busy,
                retry_after_s=60.0 if busy else None,
            )

    def _url(self) -> str:
        return self._webhook

    def _body(self, title: str, text: str) -> dict[str, Any]:
        raise NotImplementedError


class DingTalkChannel(RobotChannel):
    """A DingTalk custom robot (markdown), signed when it has a secret."""

    kind = "dingtalk"
    max_bytes = 18000

    def __init__(self, webhook: str, *, secret: str | None = None, **kwargs: Any) -> None:
        super().__init__(webhook, **kwargs)
        self._secret = secret

    def _url(self) -> str:
        if self._secret is None:
            return self._webhook
        stamp = int(time.time() * 1000)
        sep = "&" if "?" in self._webhook else "?"
        return f"{self._webhook}{sep}timestamp={stamp}&sign={dingtalk_sign(self._secret, stamp)}"

    def _body(self, title: str, text: str) -> dict[str, Any]:
        return {"msgtype": "markdown", "markdown": {"title": title, "text": text}}


class WeComChannel(RobotChannel):
    """A WeCom group robot (markdown, at most 4096 bytes a message)."""

    kind = "wecom"
    max_bytes = 4000

    def _colour(self, level: Level) -> str:
        # WeCom's markdown knows three font colours: warning (orange), info (green), comment
        return "warning"

    def _body(self, title: str, text: str) -> dict[str, Any]:
        return {"msgtype": "markdown", "markdown": {"content": text}}
