"""Liveness and readiness (models loaded, store reachable); no API key will be needed here."""

from __future__ import annotations

from fastapi import APIRouter, Response

from serving.deps import ScorersDep, StoreDep
from serving.schemas.health import HealthOut, ReadinessOut

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> HealthOut:
    """The process is up."""
    return HealthOut(status="ok")


@router.get(
    "/readyz",
    responses={
        503: {"model": ReadinessOut, "description": "Not ready: no model serves, or no data."}
    },
)
def readyz(response: Response, scorers: ScorersDep, store: StoreDep) -> ReadinessOut:
    """Ready to serve: a model serves and the store holds observations (503 otherwise)."""
    ready = bool(scorers.by_domain) and store.exists("observations")
    if not ready:
        response.status_code = 503
    return ReadinessOut(
        ready=ready,
        models={d: s.version for d, s in scorers.by_domain.items()},
        problems=dict(scorers.problems),
    )
