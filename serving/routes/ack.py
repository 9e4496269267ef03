"""Acknowledging from a message: the link in a warning's message opens a page with the warning
and one button; pressing it acknowledges as the recipient the link names. The signed token is
the credential (no API key on a phone); opening the page never acknowledges by itself, since
chat apps and mail scanners fetch links to preview them."""

from __future__ import annotations

import html
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from alerts import AckGrant, AckLinkError, AckLinks, Ledger, Warning
from features import NotFoundError
from serving.deps import ClockDep, EngineDep, LedgerDep

router = APIRouter(prefix="/ack", tags=["acknowledgement links"])

_WORDS = {
    "zh": {
        "title": "确认收到预警",
        "button": "确认收到",
        "done": "已确认收到",
        "by": "确认人",
        "before": "此预警已由{by}于{at}确认",
        "closed": "此预警已解除，无需确认",
        "bad": "链接无效",
    },
    "en": {
        "title": "Acknowledge warning",
        "button": "Acknowledge",
        "done": "Acknowledged",
        "by": "By",
        "before": "Acknowledged already by {by} at {at}",
        "closed": "This warning has been lifted; nothing to acknowledge",
        "bad": "Link not valid",
    },
}


def get_links(request: Request) -> AckLinks:
    links: AckLinks | None = request.app.state.links
    if links is None:
        raise NotFoundError(
            "acknowledgement links are not configured (CITYBRAIN_ACK_SECRET, CITYBRAIN_PUBLIC_URL)"
        )
    return links


LinksDep = Annotated[AckLinks, Depends(get_links)]


def _page(title: str, *paragraphs: str, status: int = 200, lang: str = "zh") -> HTMLResponse:
    """A small page a phone shows well; ``paragraphs`` are HTML already escaped."""
    body = "".join(paragraphs)
    return HTMLResponse(
        f"<!doctype html><html lang='{lang}'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>body{{font:18px sans-serif;margin:2em}}"
        "button{font-size:1.4em;padding:.6em 2em}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>",
        status_code=status,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


def _p(text: str) -> str:
    return f"<p>{html.escape(text)}</p>"


def _message(warning: Warning, lang: str) -> str:
    return _p(warning.message_zh if lang == "zh" else warning.message_en)


def _granted(
    links: AckLinks, ledger: Ledger, token: str
) -> tuple[AckGrant, dict[str, str], Warning] | HTMLResponse:
    """What the link grants, its words and the warning; a refusal page for a bad link."""
    try:
        grant = links.check(token)
    except AckLinkError as err:
        status = 410 if "expired" in str(err) else 403
        return _page(_WORDS["zh"]["bad"], _p(str(err)), status=status)
    return grant, _WORDS.get(grant.lang, _WORDS["zh"]), ledger.get(grant.warning_id)


@router.get("/{token}", response_class=HTMLResponse, include_in_schema=False)
def ack_page(token: str, links: LinksDep, ledger: LedgerDep) -> HTMLResponse:
    """The warning the link is about, and one button to acknowledge it."""
    found = _granted(links, ledger, token)
    if isinstance(found, HTMLResponse):
        return found
    grant, words, warning = found
    lang = grant.lang
    if warning.status == "closed":
        return _page(words["title"], _message(warning, lang), _p(words["closed"]), lang=lang)
    if warning.status == "acknowledged":
        said = words["before"].format(by=warning.acked_by or "", at=warning.acked_at)
        return _page(words["title"], _message(warning, lang), _p(said), lang=lang)
    button = f"<form method='post'><button type='submit'>{words['button']}</button></form>"
    who = _p(f"{words['by']}: {grant.recipient}")
    return _page(words["title"], _message(warning, lang), who, button, lang=lang)


@router.post("/{token}", response_class=HTMLResponse, include_in_schema=False)
def ack_by_link(
    token: str, links: LinksDep, ledger: LedgerDep, engine: EngineDep, clock: ClockDep
) -> HTMLResponse:
    """Acknowledge as the link's recipient; the ledger records who and through which channel."""
    found = _granted(links, ledger, token)
    if isinstance(found, HTMLResponse):
        return found
    grant, words, warning = found
    lang = grant.lang
    if warning.status == "closed":
        return _page(words["title"], _p(words["closed"]), lang=lang)
    done = ledger.acknowledge(
        warning.id,
        by=grant.recipient,
        note=f"acknowledged from the link in a {grant.channel} message",
        channels=engine.channels_for(warning.domain, warning.area_id, warning.tier),
        now=clock.now(),
    )
    who = _p(f"{words['by']}: {done.acked_by or grant.recipient}")
    return _page(words["done"], _message(done, lang), who, lang=lang)
