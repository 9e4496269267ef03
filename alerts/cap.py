"""Warnings as CAP 1.2 alerts (OASIS Common Alerting Protocol), for neighbouring systems.

Each change of a warning that people are told of (opened, reopened, escalated, deescalated,
closed or resolved) is one CAP message, identified ``citybrain-<warning>-<history number>`` and
sent at the change's time; :func:`cap_alert` writes the latest one, with every earlier message
of the warning in ``references``, so a receiver sees an ``Alert`` become ``Update``s and end in
a ``Cancel``. Two ``info`` blocks, zh-CN and en-US, carry the same facts:

* ``severity`` from the level (red Extreme, orange Severe, yellow Moderate, blue Minor);
* ``urgency`` from when the level is expected (within an hour Immediate, within a day
  Expected, later Future), ``certainty`` from its probability (above one half Likely; from a
  tenth Possible; else Unlikely; a closed warning's Observed);
* ``onset`` when the level is expected, ``expires`` six hours after the last change of an open
  warning (it is updated well before) or at its close;
* ``headline``, ``description`` (the warning's text) and ``instruction`` (the level's action);
* the area: the district's polygon from the areas table and a circle around each target at a
  level.

Times are written with the city's offset, as CAP's pattern requires (no ``Z``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from alerts.levels import Level
from alerts.messages import CITY_TZ
from alerts.records import HistoryEntry, Warning

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
CAP_ACTIONS = frozenset({"opened", "reopened", "escalated", "deescalated", "closed", "resolved"})
SEVERITY = {Level.RED: "Extreme", Level.ORANGE: "Severe", Level.YELLOW: "Moderate",
            Level.BLUE: "Minor"}  # fmt: skip
CATEGORY = {"waterlogging": "Met", "rivers": "Met", "traffic": "Transport", "hotline": "Other"}
RESPONSE = {"waterlogging": "Avoid", "rivers": "Prepare", "traffic": "Avoid", "hotline": "Monitor"}
EVENT = {
    "waterlogging": ("城市内涝积水", "urban flooding"),
    "rivers": ("河湖高水位", "high river level"),
    "traffic": ("交通拥堵", "traffic congestion"),
    "hotline": ("12345热线话务激增", "12345 hotline surge"),
}
EXPIRES_AFTER = timedelta(hours=6)
TARGET_RADIUS_KM = 0.3


@dataclass(frozen=True)
class CapArea:
    """Where a warning is: the district's names and GeoJSON geometry, the targets' positions."""

    name_zh: str
    name_en: str
    geometry: Mapping[str, Any] | None
    points: Sequence[tuple[float, float]] = ()  # (lat, lon) of each target at a level


def cap_messages(history: Sequence[tuple[int, HistoryEntry]]) -> list[tuple[int, HistoryEntry]]:
    """The entries of a warning's history that are CAP messages, oldest first."""
    return [(seq, e) for seq, e in history if e.action in CAP_ACTIONS]


def _time(t: datetime, tz: ZoneInfo) -> str:
    return t.astimezone(tz).replace(microsecond=0).isoformat()


def _identifier(warning_id: str, seq: int) -> str:
    return f"citybrain-{warning_id}-{seq}"


def _polygons(geometry: Mapping[str, Any] | None) -> list[str]:
    """CAP polygons ("lat,lon" pairs, closed) of a GeoJSON Polygon or MultiPolygon's outer
    rings."""
    if not geometry:
        return []
    kind, coords = geometry.get("type"), geometry.get("coordinates") or []
    rings = (
        [coords[0]]
        if kind == "Polygon"
        else [p[0] for p in coords]
        if kind == "MultiPolygon"
        else []
    )
    out = []
    for ring in rings:
        points = [(float(lat), float(lon)) for lon, lat, *_ in ring]
        if len(points) >= 3 and points[0] != points[-1]:
            points.append(points[0])
        if len(points) >= 4:
            out.append(" ".join(f"{lat:.5f},{lon:.5f}" for lat, lon in points))
    return out


def _certainty(warning: Warning) -> str:
    p = float((warning.details.get("probabilities") or {}).get(warning.level.colour, 0.0))
    return "Likely" if p > 0.5 else "Possible" if p >= 0.1 else "Unlikely"


def _urgency(onset: datetime | None, sent: datetime) -> str:
    if onset is None:
        return "Unknown"
    ahead = onset - sent
    return (
        "Immediate"
        if ahead <= timedelta(hours=1)
        else "Expected"
        if ahead <= timedelta(days=1)
        else "Future"
    )


def cap_alert(
    warning: Warning,
    history: Sequence[tuple[int, HistoryEntry]],
    area: CapArea,
    *,
    sender: str,
    tz: str = CITY_TZ,
) -> bytes:
    """The warning's latest CAP message (UTF-8 XML), referencing every earlier one.

    Raises:
        ValueError: the history holds no change people were told of (nothing to publish).
    """
    zone = ZoneInfo(tz)
    messages = cap_messages(history)
    if not messages:
        raise ValueError(f"warning {warning.id} has no change to publish")
    seq, latest = messages[-1]
    closed = warning.status == "closed" or latest.action in ("closed", "resolved")
    msg_type = "Cancel" if closed else "Update" if len(messages) > 1 else "Alert"
    sent = latest.ts

    ET.register_namespace("", CAP_NS)
    root = ET.Element(f"{{{CAP_NS}}}alert")

    def add(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
        node = ET.SubElement(parent, f"{{{CAP_NS}}}{tag}")
        if text is not None:
            node.text = text
        return node

    add(root, "identifier", _identifier(warning.id, seq))
    add(root, "sender", sender)
    add(root, "sent", _time(sent, zone))
    add(root, "status", "Actual")
    add(root, "msgType", msg_type)
    add(root, "scope", "Public")
    if len(messages) > 1:
        add(root, "references", " ".join(
            f"{sender},{_identifier(warning.id, s)},{_time(e.ts, zone)}" for s, e in messages[:-1]
        ))  # fmt: skip
    add(root, "incidents", f"citybrain-{warning.id}")
    details = warning.details
    level = warning.level if warning.level > Level.NONE else warning.peak_level
    onset_text = details.get("level_ts")
    onset = datetime.fromisoformat(onset_text) if onset_text else None
    expires = warning.closed_at or sent if closed else max(sent, onset or sent) + EXPIRES_AFTER
    for lang, language in (("zh", "zh-CN"), ("en", "en-US")):
        info = add(root, "info")
        add(info, "language", language)
        add(info, "category", CATEGORY.get(warning.domain, "Other"))
        event_zh, event_en = EVENT.get(warning.domain, (warning.domain, warning.domain))
        add(info, "event", event_zh if lang == "zh" else event_en)
        add(info, "responseType", "AllClear" if closed else RESPONSE.get(warning.domain, "Monitor"))
        add(info, "urgency", "Past" if closed else _urgency(onset, sent))
        add(info, "severity", SEVERITY.get(level, "Unknown"))
        add(info, "certainty", "Observed" if closed else _certainty(warning))
        if onset is not None and not closed:
            add(info, "onset", _time(onset, zone))
        add(info, "expires", _time(expires, zone))
        add(
            info,
            "senderName",
            "城市运行管理中心 citybrain" if lang == "zh" else "City operations centre (citybrain)",
        )
        text = warning.message_zh if lang == "zh" else warning.message_en
        add(info, "headline", text.split("：", 1)[0] if lang == "zh" else text.split(": ", 1)[0])
        add(info, "description", text)
        action = details.get(f"action_{lang}")
        if action and not closed:
            add(info, "instruction", action)
        for name, value in (
            ("level", level.colour),
            (
                "probability",
                f"{float((details.get('probabilities') or {}).get(level.colour, 0.0)):.2f}",
            ),
            ("threshold", str(details.get("threshold"))),
            ("unit", str(details.get("unit") or "")),
        ):
            parameter = add(info, "parameter")
            add(parameter, "valueName", name)
            add(parameter, "value", value)
        where = add(info, "area")
        add(where, "areaDesc", area.name_zh if lang == "zh" else area.name_en)
        for polygon in _polygons(area.geometry):
            add(where, "polygon", polygon)
        for lat, lon in area.points:
            add(where, "circle", f"{lat:.5f},{lon:.5f} {TARGET_RADIUS_KM}")
    body = ET.tostring(root, encoding="unicode")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body).encode("utf-8")
