"""Warnings, live: every change of every warning as a server-sent event, resumable.

Declared before the warnings router, so ``/v1/warnings/stream`` is this route and not a
warning named "stream"."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from features import DataError
from serving.auth import Reader
from serving.deps import FeedDep
from serving.schemas.errors import error_responses
from serving.stream import WarningFeed

router = APIRouter(prefix="/v1/warnings", tags=["warnings"])

RECONNECT_MS = 3000  # how soon a browser's EventSource comes back after the stream ends


@router.get(
    "/stream",
    response_class=EventSourceResponse,
    responses={
        200: {
            "description": "``text/event-stream``: one event per change of a warning (``id``:"
            " its sequence number; ``event``: the action; ``data``: JSON of the history entry"
            " with ``seq`` and the ``warning`` as it stands now)",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **error_responses(401, 403, 422, 429),
    },
)
async def stream_warnings(
    key: Reader,
    feed: FeedDep,
    domain: Annotated[str | None, Query(max_length=64)] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=20)] = None,
    until_s: Annotated[float, Query(gt=0, le=3600)] = 300.0,
) -> EventSourceResponse:
    """Every change of every warning (of ``domain``) from now on, as server-sent events
    (``read``); with ``Last-Event-ID`` (a browser's EventSource sends it when it reconnects),
    every change after that one first, so a dashboard that lost its connection misses none.
    The stream ends after ``until_s`` seconds and the client reconnects where it was."""
    if last_event_id is not None and not last_event_id.strip().isdigit():
        raise DataError(
            f"Last-Event-ID must be an event id from this stream (digits), got "
            f"{last_event_id[:20]!r}",
            column="Last-Event-ID",
        )
    start = int(last_event_id) if last_event_id is not None else feed.cursor
    return EventSourceResponse(
        _events(feed, start, domain, until_s),
        ping=15,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _events(
    feed: WarningFeed, seq: int, domain: str | None, until_s: float
) -> AsyncIterator[ServerSentEvent]:
    deadline = time.monotonic() + until_s
    yield ServerSentEvent(comment="citybrain warnings", retry=RECONNECT_MS)
    while time.monotonic() < deadline:
        found = feed.after(seq, domain)
        if found is None:  # resumed from further back than memory: the ledger has it
            found = await run_in_threadpool(feed.backlog, seq, domain)
        events, seq = found
        for event in events:
            yield ServerSentEvent(data=event.data, id=str(event.seq), event=event.action)
        await asyncio.sleep(min(feed.poll_s, max(deadline - time.monotonic(), 0)))
