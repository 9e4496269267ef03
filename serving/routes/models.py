"""Which champions serve, as loaded (family, calibration, ensemble members), and reloading
them after a promotion or rollback (``admin``)."""

from __future__ import annotations

from fastapi import APIRouter

from serving.auth import Admin, Reader
from serving.deps import ScorersDep
from serving.schemas.errors import error_responses
from serving.schemas.models import EnsembleMember, ModelsOut, ServedModel
from serving.scorers import Scorers
from serving.served import describe

router = APIRouter(prefix="/v1", tags=["models"], responses=error_responses(401, 403, 429))


def _served(scorers: Scorers) -> ModelsOut:
    models = []
    for d, s in scorers.by_domain.items():
        found = describe(s.model.forecaster)
        models.append(
            ServedModel(
                domain=d,
                task=s.task.name,
                family=found["family"],
                calibration=found["calibration"],
                members=[EnsembleMember(**m) for m in found["members"]],
                version=s.version,
                source=scorers.source(d),
                features=len(s.spec.columns),
            )
        )
    return ModelsOut(models=models, problems=dict(scorers.problems), notices=dict(scorers.notices))


@router.get("/models")
def models(
    key: Reader,
    scorers: ScorersDep,
) -> ModelsOut:
    """The model serving each domain as loaded, and why any configured task is not served."""
    return _served(scorers)


@router.post("/models/reload")
def reload(
    key: Admin,
    scorers: ScorersDep,
) -> ModelsOut:
    """Load the current champions from the registry and rescore every domain."""
    with scorers.lock:
        scorers.load()
        scorers.rescore()
    return _served(scorers)
