"""MQTT: each warning's current state on a topic of its own, retained, for screens and systems
on the city's message bus.

Published with QoS 1 (the broker acknowledges it) to ``<prefix>/<domain>/<area>`` and
retained, so a subscriber that connects later gets every area's current state at once; a
warning that closes publishes its closed state (retained too), so the topic never shows a
warning that is over. ``paho-mqtt`` speaks the protocol; a broker that does not acknowledge in
time, or refuses, is a failure to try again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from paho.mqtt import client as mqtt

from alerts.channels import ChannelBase, DeliveryError, Lang
from alerts.retry import RetryPolicy

_UNSAFE = re.compile(r"[+#/\x00]")  # a topic level must not hold wildcards or separators


def topic_of(prefix: str, payload: Mapping[str, Any]) -> str:
    """The topic of a warning: ``<prefix>/<domain>/<area>``."""
    domain = _UNSAFE.sub("_", str(payload.get("domain") or "unknown"))
    area = _UNSAFE.sub("_", str(payload.get("area_id") or "unknown"))
    return f"{prefix.rstrip('/')}/{domain}/{area}"


class MqttChannel(ChannelBase):
    """Publishes each payload (JSON, ``delivery_id`` added) retained with QoS 1."""

    def __init__(
        self,
        host: str,
        port: int = 1883,
        *,
        name: str = "mqtt",
        prefix: str = "citybrain/warnings",
        username: str | None = None,
        password: str | None = None,
        lang: Lang = "zh",
        timeout_s: float = 5.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        super().__init__(name=name, lang=lang, retry=retry)
        self.host, self.port, self.prefix = host, port, prefix
        self._login = (username, password) if username is not None else None
        self._timeout = timeout_s

    def __repr__(self) -> str:
        return f"MqttChannel({self.name!r}, {self.host}:{self.port}, {self.prefix!r})"

    def deliver(self, payload: Mapping[str, Any], *, key: str) -> None:
        body = json.dumps(
            {**payload, "delivery_id": key, "message": payload.get(f"message_{self.lang}")},
            ensure_ascii=False,
        )
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"citybrain-{key[-12:]}")
        if self._login is not None:
            client.username_pw_set(*self._login)
        try:
            client.connect(self.host, self.port, keepalive=30)
            client.loop_start()
            info = client.publish(topic_of(self.prefix, payload), body, qos=1, retain=True)
            info.wait_for_publish(timeout=self._timeout)
            if not info.is_published():
                raise DeliveryError(f"{self.name}: the broker did not acknowledge in time")
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                raise DeliveryError(f"{self.name}: publish failed ({mqtt.error_string(info.rc)})")
        except (OSError, ValueError, RuntimeError) as err:
            raise DeliveryError(f"{self.name}: {self.host}:{self.port}: {err}") from None
        finally:
            client.disconnect()  # before stopping the loop, which it wakes
            client.loop_stop()
