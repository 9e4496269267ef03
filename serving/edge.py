"""The dashboard's poll answered at the edge: a cache in front of the router for ``/v1/risk``.

Every screen of the command hall polls ``GET /v1/risk`` every few seconds, and the answer is
bytes serialised at the last rescoring (:class:`serving.views.RiskViews`). Resolving the typed
route for each poll (routing, dependency resolution, the response class) cost more than twice
the answer itself, so this ASGI middleware answers the common case first, as a reverse proxy's
cache would: a well-formed query for a served domain, with a key that may read. It checks the
key and rate limit with the same :class:`Guard` as every route, answers the same bytes with the
same ``ETag``/``Cache-Control`` (304 on ``If-None-Match``), and is timed and logged under the
route's name like any request. Anything else (no key, a wrong one, a bad filter, an unknown
domain) goes on to the typed route, which answers the documented errors.
"""

from __future__ import annotations

from typing import Any, get_args
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from features import CitybrainError
from serving.auth import HEADER, Guard
from serving.deps import DEFAULT_DOMAIN
from serving.schemas import Colour
from serving.views import RiskViews, etag_matches

PATH = "/v1/risk"
CACHE_CONTROL = b"private, no-cache"
_HEADER = HEADER.lower().encode()
_COLOURS = set(get_args(Colour))


class _Route:
    """What the access log and metrics read of a matched route: its path template."""

    path = PATH


class PollCache:
    """ASGI middleware answering well-formed, authorised ``GET /v1/risk`` from the views."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"] == PATH:
            answer = self._answer(scope)
            if answer is not None:
                status, headers, body = answer
                scope["route"] = _Route()
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    def _answer(self, scope: Scope) -> tuple[int, list[tuple[bytes, bytes]], bytes] | None:
        state = getattr(scope.get("app"), "state", None)
        views: RiskViews | None = getattr(state, "views", None)
        guard: Guard | None = getattr(state, "guard", None)
        if views is None or guard is None:
            return None  # not started yet: the route answers
        query = _query(scope["query_string"])
        if query is None:
            return None
        token, if_none_match = None, None
        for name, value in scope["headers"]:
            if name == _HEADER:
                token = value.decode("latin-1")
            elif name == b"if-none-match":
                if_none_match = value.decode("latin-1")
        try:
            key = guard.check(token)  # before any work for the caller
            if not key.grants("read"):
                return None
            view = views.get(*query)
        except CitybrainError:
            return None  # the route answers the documented error
        scope.setdefault("state", {})["key_id"] = key.id
        headers = [(b"etag", view.etag.encode()), (b"cache-control", CACHE_CONTROL)]
        if if_none_match and etag_matches(if_none_match, view.etag):
            return 304, headers, b""
        headers += [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(view.body)).encode()),
        ]
        return 200, headers, view.body


def _query(raw: bytes) -> tuple[str, str | None, str | None] | None:
    """(domain, area_id, level) of a plain query; None for anything the route should judge."""
    found: dict[str, Any] = {}
    for name, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
        if name not in ("domain", "area_id", "level") or name in found or len(value) > 200:
            return None
        found[name] = value
    level = found.get("level")
    if level is not None and level not in _COLOURS:
        return None
    return found.get("domain", DEFAULT_DOMAIN), found.get("area_id"), level
