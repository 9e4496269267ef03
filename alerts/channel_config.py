"""The channels file: every receiver of warnings, in one validated file.

``CITYBRAIN_CHANNELS`` names it (YAML). Secrets never sit in it: a channel names the
environment variable or the file that holds its secret, read when the service starts (a
missing one stops it, saying which channel and which variable). Nothing here logs a secret:
channels print as their name, address and whether they sign.

```yaml
channels:
  - name: duty-webhook            # what rosters name; unique
    type: webhook
    url: https://ops.example.gov.cn/citybrain/warnings
    secret: {env: CITYBRAIN_DUTY_WEBHOOK_SECRET}   # or {file: /run/secrets/duty-webhook}
    lang: zh                      # the language of its ``message``: zh (default) or en
    timeout: 5s
    retry: {first: 5s, factor: 2, longest: 10m, give_up_after: 48h, jitter: 0.5}
  - name: duty-dingtalk           # a DingTalk custom robot (markdown; signed when it has a secret)
    type: dingtalk
    webhook: {env: CITYBRAIN_DINGTALK_URL}      # https://oapi.dingtalk.com/robot/send?access_token=...
    secret: {env: CITYBRAIN_DINGTALK_SECRET}    # the robot's SEC... string
  - name: duty-wecom              # a WeCom group robot (markdown)
    type: wecom
    webhook: {env: CITYBRAIN_WECOM_URL}         # https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...
```
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator, model_validator

from alerts.channels import Channel, WebhookChannel
from alerts.config_files import read_yaml, validate_file_model
from alerts.mail import EmailChannel
from alerts.mqtt import MqttChannel
from alerts.retry import RetryPolicy
from alerts.robots import DingTalkChannel, WeComChannel
from alerts.sms import SmsChannel
from features import ConfigError, Duration


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SecretRef(_Strict):
    """Where a secret is read from: an environment variable or a file (its first line)."""

    env: str | None = Field(None, min_length=1)
    file: Path | None = None

    @model_validator(mode="after")
    def _one_source(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of env or file")
        return self

    def read(self, channel: str) -> str:
        """The secret, read now.

        Raises:
            ConfigError: the variable is unset or empty, or the file is missing or empty;
                naming the channel and where it looked (never the value).
        """
        if self.env is not None:
            value = os.environ.get(self.env, "")
            where = f"environment variable {self.env}"
        else:
            assert self.file is not None
            if not self.file.is_file():
                raise ConfigError(
                    f"channel {channel!r}: secret file {self.file} does not exist",
                    key="channels.secret",
                )
            lines = self.file.read_text(encoding="utf-8").strip().splitlines()
            value = lines[0].strip() if lines else ""
            where = f"file {self.file}"
        if not value:
            raise ConfigError(
                f"channel {channel!r}: its secret is read from the {where}, which is unset or "
                "empty",
                key="channels.secret",
            )
        return value


def _no_literal_secret(value: Any) -> Any:
    if isinstance(value, str):
        raise ValueError(
            "a secret is read from an environment variable or a file, never written here: "
            "secret: {env: NAME} or secret: {file: PATH}"
        )
    return value


class RetrySpec(_Strict):
    """:class:`alerts.retry.RetryPolicy` as written in the file."""

    first: Duration = Duration("5s")
    factor: float = Field(2.0, ge=1)
    longest: Duration = Duration("10m")
    give_up_after: Duration = Duration("48h")
    jitter: float = Field(0.5, ge=0, le=1)

    def policy(self) -> RetryPolicy:
        return RetryPolicy(
            first_s=self.first.total_seconds(),
            factor=self.factor,
            longest_s=max(self.longest, self.first).total_seconds(),
            give_up_after_s=self.give_up_after.total_seconds(),
            jitter=self.jitter,
        )


class _ChannelSpec(_Strict):
    """What every channel has: a name (what rosters name), the language of its messages, a
    timeout and a retry policy."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    lang: Literal["zh", "en"] = "zh"
    timeout: Duration = Duration("5s")
    retry: RetrySpec = RetrySpec()

    def common(self) -> dict[str, Any]:
        """The keyword arguments every channel class takes."""
        return {
            "name": self.name,
            "lang": self.lang,
            "timeout_s": self.timeout.total_seconds(),
            "retry": self.retry.policy(),
        }


class WebhookSpec(_ChannelSpec):
    """A JSON webhook, signed with HMAC-SHA256 when it has a secret (:mod:`alerts.signing`)."""

    type: Literal["webhook"]
    url: AnyHttpUrl
    secret: SecretRef | None = None

    _literal = field_validator("secret", mode="before")(_no_literal_secret)

    def build(self) -> Channel:
        secret = self.secret.read(self.name) if self.secret is not None else None
        return WebhookChannel(str(self.url), secret=secret, **self.common())


def _robot_url(ref: SecretRef, channel: str) -> str:
    """A robot's webhook URL, read from where it is kept (it carries the robot's token)."""
    url = ref.read(channel)
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        raise ConfigError(
            f"channel {channel!r}: its webhook is not an http(s) URL", key="channels.webhook"
        )
    return url


class DingTalkSpec(_ChannelSpec):
    """A DingTalk custom robot: ``webhook`` (its URL with ``access_token``) and, when the robot
    signs ("加签"), ``secret`` (the SEC... string), both by reference."""

    type: Literal["dingtalk"]
    webhook: SecretRef
    secret: SecretRef | None = None

    _literal = field_validator("webhook", "secret", mode="before")(_no_literal_secret)

    def build(self) -> Channel:
        secret = self.secret.read(self.name) if self.secret is not None else None
        url = _robot_url(self.webhook, self.name)
        return DingTalkChannel(url, secret=secret, **self.common())


class WeComSpec(_ChannelSpec):
    """A WeCom group robot: ``webhook`` (its URL with ``key``), by reference."""

    type: Literal["wecom"]
    webhook: SecretRef

    _literal = field_validator("webhook", mode="before")(_no_literal_secret)

    def build(self) -> Channel:
        return WeComChannel(_robot_url(self.webhook, self.name), **self.common())


class EmailSpec(_ChannelSpec):
    """E-mail over SMTP: the server, who it is from and to, and a login by reference."""

    type: Literal["email"]
    host: str = Field(min_length=1)
    port: int = Field(25, ge=1, le=65535)
    starttls: bool = False
    sender: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    to: tuple[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")], ...] = Field(min_length=1)
    username: str | None = None
    password: SecretRef | None = None

    _literal = field_validator("password", mode="before")(_no_literal_secret)

    def build(self) -> Channel:
        password = self.password.read(self.name) if self.password is not None else None
        return EmailChannel(
            self.host, self.port, sender=self.sender, recipients=self.to,
            starttls=self.starttls, username=self.username, password=password, **self.common(),
        )  # fmt: skip


class SmsSpec(_ChannelSpec):
    """An SMS gateway over HTTP: its URL, a JSON body template (``$phone``, ``$text``,
    ``$id``), headers whose values are read by reference (its API key), the phones, and the
    link template (``$warning``) the text ends with."""

    type: Literal["sms"]
    url: AnyHttpUrl
    to: tuple[Annotated[str, Field(pattern=r"^\+?[0-9]{5,20}$")], ...] = Field(min_length=1)
    body: dict[str, Any] = Field(min_length=1)
    headers: dict[str, SecretRef] = Field(default_factory=dict)
    link: str | None = None
    max_chars: int = Field(70, ge=40, le=500)

    def build(self) -> Channel:
        headers = {k: ref.read(self.name) for k, ref in self.headers.items()}
        return SmsChannel(
            str(self.url), recipients=self.to, body=self.body, headers=headers, link=self.link,
            max_chars=self.max_chars, **self.common(),
        )  # fmt: skip


class MqttSpec(_ChannelSpec):
    """An MQTT broker: each warning's state retained on ``<prefix>/<domain>/<area>``, QoS 1."""

    type: Literal["mqtt"]
    host: str = Field(min_length=1)
    port: int = Field(1883, ge=1, le=65535)
    prefix: str = Field("citybrain/warnings", min_length=1, pattern=r"^[^+#]+$")
    username: str | None = None
    password: SecretRef | None = None

    _literal = field_validator("password", mode="before")(_no_literal_secret)

    def build(self) -> Channel:
        password = self.password.read(self.name) if self.password is not None else None
        return MqttChannel(
            self.host, self.port, prefix=self.prefix, username=self.username,
            password=password, **self.common(),
        )  # fmt: skip


ChannelSpec = Annotated[
    WebhookSpec | DingTalkSpec | WeComSpec | EmailSpec | SmsSpec | MqttSpec,
    Field(discriminator="type"),
]
CHANNEL_TYPES = frozenset({"webhook", "dingtalk", "wecom", "email", "sms", "mqtt"})


class ChannelsFile(_Strict):
    channels: tuple[ChannelSpec, ...] = Field(min_length=1)

    @field_validator("channels")
    @classmethod
    def _unique(cls, v: tuple[ChannelSpec, ...]) -> tuple[ChannelSpec, ...]:
        names = [c.name for c in v]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"each channel name once: {twice} appear twice")
        return v


def parse_channels(raw: Any, *, source: str = "<channels>") -> dict[str, Channel]:
    """The channels of a parsed channels file, by name, their secrets read."""
    spec = validate_file_model(ChannelsFile, raw, source=source, tags=CHANNEL_TYPES)
    return {c.name: c.build() for c in spec.channels}


def load_channels(path: str | Path) -> dict[str, Channel]:
    """Read and validate a channels file (YAML) and build its channels."""
    raw = read_yaml(path, what="channels", key="channels")
    return parse_channels(raw, source=str(path))
