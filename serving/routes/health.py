"""Liveness and readiness, the only routes without an API key.

Both run on the event loop (``async``), never in the thread pool where ingest scores, so a
load balancer's probe answers at once while a storm is being rescored.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from serving.schemas.health import HealthOut, ReadinessOut

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> HealthOut:
    """The process is up."""
    return HealthOut(status="ok")


@router.get(
    "/readyz",
    responses={
        503: {
            "model": ReadinessOut,
            "description": "Not ready: a configured task has no model serving, or no data.",
        }
    },
)
async def readyz(request: Request, response: Response) -> ReadinessOut:
    """Ready when every configured task is served and the store holds observations (503
    otherwise, naming each task that is not served and why)."""
    scorers, store = request.app.state.scorers, request.app.state.store
    problems = dict(scorers.problems)
    if not store.exists("observations"):
        problems["store"] = f"no observations in {store.root}; ingest data first"
    ready = bool(scorers.by_domain) and not problems
    if not ready:
        response.status_code = 503
    return ReadinessOut(
        ready=ready,
        models={d: s.version for d, s in scorers.by_domain.items()},
        problems=problems,
        notices=dict(scorers.notices),
    )
