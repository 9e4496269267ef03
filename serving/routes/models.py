"""Which champions serve, and reloading them after a promotion or rollback."""

from __future__ import annotations

from fastapi import APIRouter

from serving.deps import ScorersDep
from serving.schemas.models import ModelsOut, ServedModel
from serving.scorers import Scorers

router = APIRouter(prefix="/v1", tags=["models"])


def _served(scorers: Scorers) -> ModelsOut:
    return ModelsOut(
        models=[
            ServedModel(
                domain=d,
                task=s.task.name,
                family=s.task.model.family,
                version=s.version,
                features=len(s.spec.columns),
            )
            for d, s in scorers.by_domain.items()
        ],
        problems=dict(scorers.problems),
    )


@router.get("/models")
def models(scorers: ScorersDep) -> ModelsOut:
    """The model version serving each domain, and why any configured task is not served."""
    return _served(scorers)


@router.post("/models/reload")
def reload(scorers: ScorersDep) -> ModelsOut:
    """Load the current champions from the registry and rescore every domain."""
    scorers.load()
    scorers.rescore()
    return _served(scorers)
