"""Warnings as CAP 1.2 for neighbouring systems: one warning's latest CAP message, and an Atom
feed of the open warnings' messages (the way CAP is usually polled).

Declared before the warnings router, so ``/v1/warnings/cap`` is the feed and not a warning
named "cap"."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from alerts import CapArea, Ledger, Warning, cap_alert, cap_messages
from serving.auth import Reader
from serving.deps import LedgerDep, ScorersDep, SettingsDep
from serving.schemas.errors import error_responses
from serving.scorers import Scorers
from serving.settings import Settings

router = APIRouter(
    prefix="/v1/warnings", tags=["warnings"], responses=error_responses(401, 403, 429)
)

CAP_TYPE = "application/cap+xml"
ATOM = "http://www.w3.org/2005/Atom"


def _document(ledger: Ledger, scorers: Scorers, settings: Settings, warning: Warning) -> bytes:
    name_zh, name_en, geometry = scorers.place(warning.area_id)
    area = CapArea(
        name_zh, name_en, geometry, scorers.positions([t.series_id for t in warning.active])
    )
    return cap_alert(warning, ledger.numbered_history(warning.id), area, sender=settings.cap_sender)


@router.get(
    "/cap",
    response_class=Response,
    responses={200: {"description": "an Atom feed", "content": {"application/atom+xml": {}}}},
)
def cap_feed(
    key: Reader,
    ledger: LedgerDep,
    scorers: ScorersDep,
    settings: SettingsDep,
    request: Request,
    domain: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """The open warnings (of ``domain``) as an Atom feed (``read``): one entry per warning,
    its latest CAP message linked (``application/cap+xml``) and its headline and time."""
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")

    def add(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        node = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
        node.text = text
        return node

    add(feed, "id", f"urn:citybrain:{settings.cap_sender}:warnings")
    add(feed, "title", "citybrain: open warnings (CAP 1.2)")
    add(feed, "link", rel="self", href=str(request.url))
    warnings = [w for w in ledger.list(domain=domain, limit=2000) if w.status != "closed"]
    add(
        feed,
        "updated",
        max((w.updated_at for w in warnings), default=datetime.now(UTC)).isoformat(),
    )
    for warning in warnings:
        messages = cap_messages(ledger.numbered_history(warning.id))
        if not messages:
            continue
        seq, latest = messages[-1]
        entry = add(feed, "entry")
        add(entry, "id", f"urn:citybrain:{warning.id}:{seq}")
        add(entry, "title", warning.message_zh.split("：", 1)[0])
        add(entry, "updated", latest.ts.isoformat())
        add(entry, "summary", warning.message_zh)
        href = str(request.url_for("warning_cap", warning_id=warning.id))
        add(entry, "link", rel="alternate", type=CAP_TYPE, href=href)
    body = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(feed, encoding="unicode").encode()
    )
    return Response(body, media_type="application/atom+xml")


@router.get(
    "/{warning_id}/cap",
    name="warning_cap",
    response_class=Response,
    responses={
        200: {"description": "a CAP 1.2 alert", "content": {CAP_TYPE: {}}},
        **error_responses(404),
    },
)
def warning_cap(
    key: Reader, ledger: LedgerDep, scorers: ScorersDep, settings: SettingsDep, warning_id: str
) -> Response:
    """The warning's latest CAP 1.2 message (``read``): Alert, Update or Cancel, with every
    earlier message of the warning in ``references``; Chinese and English ``info`` blocks."""
    warning = ledger.get(warning_id)
    return Response(_document(ledger, scorers, settings, warning), media_type=CAP_TYPE)
