"""The channels file: every receiver in one validated file, secrets only by reference (an
environment variable or a file), errors that name the file and the key, nothing secret in a
log line or a repr."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from alerts import (
    ChannelsFile,
    DingTalkChannel,
    RetryPolicy,
    WebhookChannel,
    WeComChannel,
    load_channels,
    parse_channels,
)
from features import ConfigError

GOOD = {
    "channels": [
        {
            "name": "duty-webhook",
            "type": "webhook",
            "url": "https://ops.example.gov.cn/citybrain",
            "secret": {"env": "CB_TEST_DUTY_SECRET"},
            "lang": "en",
            "timeout": "3s",
            "retry": {"first": "2s", "factor": 3, "longest": "5m", "give_up_after": "12h"},
        },
        {"name": "archive", "type": "webhook", "url": "http://127.0.0.1:9/archive"},
    ]
}


def _write(tmp_path: Path, raw: object) -> Path:
    path = tmp_path / "channels.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def test_a_good_file_builds_its_channels_with_their_secrets_and_retry_policies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CB_TEST_DUTY_SECRET", "hunter2-值班")
    channels = load_channels(_write(tmp_path, GOOD))
    duty, archive = channels["duty-webhook"], channels["archive"]
    assert isinstance(duty, WebhookChannel) and isinstance(archive, WebhookChannel)
    assert duty.signed and not archive.signed and duty.lang == "en"
    assert duty.retry == RetryPolicy(
        first_s=2, factor=3, longest_s=300, give_up_after_s=12 * 3600, jitter=0.5
    )
    assert archive.retry == RetryPolicy()  # the documented default
    assert "hunter2" not in repr(duty)
    # the secret from a file: its first line
    secret_file = tmp_path / "duty.secret"
    secret_file.write_text("from-a-file\n")
    raw = {"channels": [{**GOOD["channels"][0], "secret": {"file": str(secret_file)}}]}
    assert parse_channels(raw)["duty-webhook"].signed


@pytest.mark.parametrize(
    ("change", "said", "key"),
    [
        ({"secret": "hunter2"}, "never written here", "channels[0].secret"),
        ({"secret": {"env": "CB_TEST_UNSET_SECRET"}}, "CB_TEST_UNSET_SECRET", "channels.secret"),
        ({"secret": {"env": "A", "file": "/x"}}, "exactly one of env or file", "channels[0]"),
        ({"secret": {"file": "/nonexistent/secret"}}, "does not exist", "channels.secret"),
        ({"type": "carrier-pigeon"}, "webhook", "channels[0]"),
        ({"url": "not a url"}, "URL", "channels[0].url"),
        ({"lang": "fr"}, "'zh' or 'en'", "channels[0].lang"),
        ({"retry": {"first": "soon"}}, "soon", "channels[0].retry.first"),
        ({"colour": "red"}, "unknown key", "channels[0].colour"),
        ({"name": "bad name!"}, "pattern", "channels[0].name"),
    ],
)
def test_a_bad_channel_is_refused_saying_what_and_where_and_never_the_secret(
    tmp_path: Path, change: dict, said: str, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CB_TEST_UNSET_SECRET", raising=False)
    raw = {"channels": [{**GOOD["channels"][1], **change}]}
    path = _write(tmp_path, raw)
    with pytest.raises(ConfigError) as err:
        load_channels(path)
    text = str(err.value)
    assert said in text, text
    assert err.value.key.startswith(key), err.value.key
    assert "hunter2" not in text


def test_names_are_unique_and_the_file_must_exist_and_parse(tmp_path: Path) -> None:
    twice = {"channels": [GOOD["channels"][1], GOOD["channels"][1]]}
    with pytest.raises(ConfigError, match="appear twice"):
        load_channels(_write(tmp_path, twice))
    with pytest.raises(ConfigError, match="does not exist"):
        load_channels(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("channels: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_channels(broken)
    with pytest.raises(ConfigError, match="channels"):
        load_channels(_write(tmp_path, {"channels": []}))


def test_robots_read_their_webhook_and_secret_from_where_they_are_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CB_TEST_DT_URL", "https://oapi.dingtalk.com/robot/send?access_token=t0k")
    monkeypatch.setenv("CB_TEST_DT_SECRET", "SEC123")
    monkeypatch.setenv("CB_TEST_WECOM_URL", "not a url")
    raw = {
        "channels": [
            {"name": "dt", "type": "dingtalk", "webhook": {"env": "CB_TEST_DT_URL"},
             "secret": {"env": "CB_TEST_DT_SECRET"}, "lang": "en"},
        ]
    }  # fmt: skip
    (robot,) = load_channels(_write(tmp_path, raw)).values()
    assert isinstance(robot, DingTalkChannel) and robot.lang == "en"
    assert "t0k" not in repr(robot) and "SEC123" not in repr(robot)
    literal = {"channels": [{**raw["channels"][0], "webhook": "https://oapi.dingtalk.com/x"}]}
    with pytest.raises(ConfigError, match="never written here") as err:
        load_channels(_write(tmp_path, literal))
    assert err.value.key == "channels[0].webhook"
    wecom = {"channels": [{"name": "wc", "type": "wecom", "webhook": {"env": "CB_TEST_WECOM_URL"}}]}
    with pytest.raises(ConfigError, match="not an http"):
        load_channels(_write(tmp_path, wecom))
    monkeypatch.setenv(
        "CB_TEST_WECOM_URL", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"
    )
    assert isinstance(load_channels(_write(tmp_path, wecom))["wc"], WeComChannel)


def test_email_sms_and_mqtt_are_configured_with_their_secrets_by_reference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CB_TEST_SMTP_PASSWORD", "smtp-pw")
    monkeypatch.setenv("CB_TEST_SMS_KEY", "sms-key")
    raw = {
        "channels": [
            {"name": "mail", "type": "email", "host": "smtp.example.cn", "port": 587,
             "starttls": True, "sender": "cb@example.cn", "to": ["duty@example.cn"],
             "username": "cb", "password": {"env": "CB_TEST_SMTP_PASSWORD"}},
            {"name": "sms", "type": "sms", "url": "https://sms.example.cn/send",
             "to": ["+8613800000001"], "body": {"mobile": "$phone", "content": "$text"},
             "headers": {"X-Api-Key": {"env": "CB_TEST_SMS_KEY"}},
             "link": "https://ops.example.cn/w/$short"},
            {"name": "bus", "type": "mqtt", "host": "127.0.0.1", "prefix": "city/warnings"},
        ]
    }  # fmt: skip
    channels = load_channels(_write(tmp_path, raw))
    assert [type(c).__name__ for c in channels.values()] == [
        "EmailChannel", "SmsChannel", "MqttChannel"
    ]  # fmt: skip
    assert not any("smtp-pw" in repr(c) or "sms-key" in repr(c) for c in channels.values())
    bad = {"channels": [{**raw["channels"][1], "to": ["call me"]}]}
    with pytest.raises(ConfigError) as err:
        load_channels(_write(tmp_path, bad))
    assert err.value.key == "channels[0].to[0]"
    wildcard = {"channels": [{**raw["channels"][2], "prefix": "city/#"}]}
    with pytest.raises(ConfigError, match="pattern"):
        load_channels(_write(tmp_path, wildcard))


def test_the_readmes_channels_file_is_a_valid_one() -> None:
    """The example operators copy from validates (its secrets are references, not read here)."""
    readme = (Path(__file__).parents[3] / "README.md").read_text(encoding="utf-8")
    block = readme.split("```yaml\n  channels:", 1)[1].split("```", 1)[0]
    raw = yaml.safe_load("channels:" + block.replace("\n  ", "\n"))
    spec = ChannelsFile.model_validate(raw)
    assert {c.type for c in spec.channels} == {
        "webhook",
        "dingtalk",
        "wecom",
        "email",
        "sms",
        "mqtt",
    }
