"""Which champions serve, as loaded (family, calibration, ensemble members), when each was
trained and how its backtest scored against the baseline (from the registry), and reloading
them after a promotion or rollback (``admin``)."""

from __future__ import annotations

from fastapi import APIRouter

from serving.auth import Admin, Reader
from serving.deps import ScorersDep, SettingsDep
from serving.schemas.errors import error_responses
from serving.schemas.models import EnsembleMember, ModelsOut, ServedModel
from serving.scorers import Scorers
from serving.served import describe
from training import TrackingSettings, VersionRecord, version_record

router = APIRouter(prefix="/v1", tags=["models"], responses=error_responses(401, 403, 429))


# records of registered versions, which never change, keyed by registry, task and version
_RECORDS: dict[tuple[str, str, str], VersionRecord] = {}


def _record(
    tracking: TrackingSettings, task: str, version: str, metric: str
) -> VersionRecord | None:
    """A version's record, asked of the registry until it answers once; none while the
    registry is away (the model is then served from the local copy, without its record)."""
    key = (tracking.tracking_uri, task, version)
    if key not in _RECORDS:
        found = version_record(tracking, task, version, metric)
        if found is None:
            return None
        _RECORDS[key] = found
    return _RECORDS[key]


def _served(scorers: Scorers, tracking: TrackingSettings) -> ModelsOut:
    models = []
    for d, s in scorers.by_domain.items():
        found = describe(s.model.forecaster)
        record = _record(tracking, s.task.name, s.version, s.task.selection.metric)
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
                trained_at=record.trained_at.isoformat() if record else None,
                metric=record.metric if record else None,
                backtest=record.model if record else None,
                baseline=record.baseline if record else None,
            )
        )
    return ModelsOut(models=models, problems=dict(scorers.problems), notices=dict(scorers.notices))


@router.get("/models")
def models(
    key: Reader,
    scorers: ScorersDep,
    settings: SettingsDep,
) -> ModelsOut:
    """The model serving each domain as loaded, when it was trained and its backtest score
    beside the baseline's, and why any configured task is not served."""
    return _served(scorers, settings.tracking())


@router.post("/models/reload")
def reload(
    key: Admin,
    scorers: ScorersDep,
    settings: SettingsDep,
) -> ModelsOut:
    """Load the current champions from the registry and rescore every domain."""
    with scorers.lock:
        scorers.load()
        scorers.rescore()
    return _served(scorers, settings.tracking())
