"""Group robots through local stand-ins that speak DingTalk's and WeCom's protocols: they check
the token, DingTalk's signature and time window and the message's form, count the per-minute
limit, and answer with the robots' own errcodes. Our client is never patched."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from alerts_builders import ORANGE, T0, ponding

from alerts import (
    AckLinks,
    DingTalkChannel,
    Dispatcher,
    DispatchResult,
    Ledger,
    RetryPolicy,
    WarningEngine,
    WeComChannel,
)

QUICK = RetryPolicy(first_s=1, longest_s=5, give_up_after_s=3600, jitter=0)


class Robot:
    """A robot endpoint on 127.0.0.1 as DingTalk (``kind="dingtalk"``) or WeCom runs it."""

    def __init__(self, kind: str, token: str, secret: str | None = None) -> None:
        self.kind, self.token, self.secret = kind, token, secret
        self.messages: list[dict[str, Any]] = []
        self.answers: list[int] = []
        self.times: list[float] = []
        robot = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                code, message = robot.check(query, body)
                robot.answers.append(code)
                if code == 0:
                    robot.messages.append(body)
                    robot.times.append(time.time())
                data = json.dumps({"errcode": code, "errmsg": message}).encode()
                self.send_response(200)  # both robots answer 200 and say what went wrong
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        port = self.server.server_address[1]
        path = "robot/send?access_token=" if kind == "dingtalk" else "cgi-bin/webhook/send?key="
        self.url = f"http://127.0.0.1:{port}/{path}{token}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def check(self, query: dict[str, list[str]], body: dict[str, Any]) -> tuple[int, str]:
        recent = [t for t in self.times if time.time() - t < 60]
        if self.kind == "dingtalk":
            if query.get("access_token") != [self.token]:
                return 300001, "token is not exist"
            if self.secret is not None:
                stamp, sign = query.get("timestamp", ["0"])[0], query.get("sign", [""])[0]
                if abs(time.time() * 1000 - int(stamp)) > 3600 * 1000:
                    return 310000, "invalid timestamp"
                mac = hmac.new(self.secret.encode(), f"{stamp}\n{self.secret}".encode(),
                               hashlib.sha256).digest()  # fmt: skip
                if sign != base64.b64encode(mac).decode():
                    return 310000, "sign not match, more: [https://ding-doc.dingtalk.com/]"
            markdown = body.get("markdown") or {}
            if body.get("msgtype") != "markdown" or not markdown.get("title"):
                return 40035, "缺少参数 json"
            if len(recent) >= 20:
                return 410100, "send too fast, exceed 20 times per minute"
            return 0, "ok"
        if query.get("key") != [self.token]:
            return 93000, "invalid webhook url"
        content = (body.get("markdown") or {}).get("content", "")
        if body.get("msgtype") != "markdown" or not content:
            return 40008, "invalid message type"
        if len(content.encode()) > 4096:
            return 40058, "markdown.content exceed max length 4096"
        if len(recent) >= 20:
            return 45009, "api freq out of limit"
        return 0, "ok"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def dingtalk() -> Iterator[Robot]:
    robot = Robot("dingtalk", "dt-token", secret="SEC0123456789abcdef")
    yield robot
    robot.stop()


@pytest.fixture
def wecom() -> Iterator[Robot]:
    robot = Robot("wecom", "wecom-key")
    yield robot
    robot.stop()


def _open(ledger: Ledger, areas: int, channel: str) -> None:
    WarningEngine(ledger, channels=(channel,)).evaluate(
        [ponding(ORANGE, area_id=f"area-{i:02d}", series_id=f"p{i}") for i in range(areas)], T0
    )


def test_a_warning_reaches_a_signing_dingtalk_robot_as_markdown(
    ledger: Ledger, dingtalk: Robot
) -> None:
    _open(ledger, 1, "dingtalk")
    channel = DingTalkChannel(dingtalk.url, secret="SEC0123456789abcdef", name="dingtalk")
    links = AckLinks("ack-secret", "https://ops.example.gov.cn")
    dispatcher = Dispatcher(ledger, {"dingtalk": channel}, links=links)
    assert dispatcher.dispatch_due(T0) == DispatchResult(sent=1)
    (message,) = dingtalk.messages
    assert message["msgtype"] == "markdown"
    assert "鼓楼区 五一路下穿通道" in message["markdown"]["title"]
    text = message["markdown"]["text"]
    assert "**【橙色预警】**" in text and "积水深度超过15厘米的可能性为72%" in text
    assert "[确认收到](https://ops.example.gov.cn/ack/" in text  # one tap from the group
    assert "dt-token" not in repr(channel) and "SEC" not in repr(channel)


def test_a_wrong_dingtalk_secret_is_a_refusal_dead_lettered_at_once(
    ledger: Ledger, dingtalk: Robot
) -> None:
    _open(ledger, 1, "dingtalk")
    channel = DingTalkChannel(dingtalk.url, secret="SEC-not-this-one", name="dingtalk", retry=QUICK)
    assert Dispatcher(ledger, {"dingtalk": channel}).dispatch_due(T0) == DispatchResult(failed=1)
    (row,) = ledger.outbox()
    assert row.status == "failed" and "errcode 310000" in row.last_error
    assert "sign not match" in row.last_error and dingtalk.answers == [310000]


def test_a_storm_beyond_twenty_a_minute_is_batched_into_the_minute_not_dropped(
    ledger: Ledger, wecom: Robot
) -> None:
    """45 warnings at once: WeCom's limit is 20 messages a minute, so they go out as 20
    messages carrying all 45; more in the same minute wait for the next, untried."""
    _open(ledger, 45, "wecom")
    channel = WeComChannel(wecom.url, name="wecom", retry=QUICK)
    dispatcher = Dispatcher(ledger, {"wecom": channel})
    assert dispatcher.dispatch_due(T0) == DispatchResult(sent=45)
    assert len(wecom.messages) == 20 and set(wecom.answers) == {0}
    contents = [m["markdown"]["content"] for m in wecom.messages]
    assert sum(c.count("【橙色预警】") for c in contents) == 45
    assert all(len(c.encode()) <= 4096 for c in contents)
    assert "条预警" in contents[0]  # several warnings in one message, said so

    WarningEngine(ledger, channels=("wecom",)).evaluate(
        [ponding(ORANGE, area_id=f"late-{i}", series_id=f"q{i}") for i in range(3)],
        T0 + timedelta(seconds=10),
    )
    later = T0 + timedelta(seconds=10)
    assert dispatcher.dispatch_due(later) == DispatchResult()  # the minute is full: they wait
    waiting = ledger.outbox(status="pending")
    assert len(waiting) == 3 and {r.attempts for r in waiting} == {0}
    assert ledger.next_due_at() == T0 + timedelta(minutes=1)
    wecom.times.clear()  # the robot's minute has passed too (its clock is the wall's)
    assert dispatcher.dispatch_due(T0 + timedelta(minutes=1)) == DispatchResult(sent=3)
    assert set(wecom.answers) == {0}  # never once over the robot's limit


def test_a_robot_saying_too_fast_is_tried_again_a_minute_later(
    ledger: Ledger, wecom: Robot
) -> None:
    """Another system used the robot's minute up: 45009 is busy, not a refusal."""
    wecom.times = [time.time()] * 20
    _open(ledger, 1, "wecom")
    dispatcher = Dispatcher(ledger, {"wecom": WeComChannel(wecom.url, name="wecom", retry=QUICK)})
    assert dispatcher.dispatch_due(T0) == DispatchResult(retried=1)
    (row,) = ledger.outbox()
    assert "errcode 45009" in row.last_error and row.status == "pending"
    assert row.next_attempt_at >= T0 + timedelta(seconds=60)
