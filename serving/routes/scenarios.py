"""What-if: score a storm for planning without touching the live store, forecasts or ledger."""

from __future__ import annotations

from fastapi import APIRouter

from serving.auth import Officer
from serving.deps import ScorersDep
from serving.scenarios import Storm, run_scenario
from serving.schemas.errors import error_responses
from serving.schemas.scenarios import PlannedWarning, ScenarioDomain, ScenarioIn, ScenarioOut

router = APIRouter(
    prefix="/v1", tags=["scenarios"], responses=error_responses(401, 403, 404, 422, 429)
)


@router.post("/scenarios")
def scenario(key: Officer, body: ScenarioIn, scorers: ScorersDep) -> ScenarioOut:
    """Every domain's forecasts, levels and the warnings that would open under the storms
    (``officer``: planning). Nothing is written."""
    every = tuple(scorers.areas())
    storms = [
        Storm(
            areas=tuple(s.areas) or every,
            mm=s.mm,
            hours=s.hours,
            kind=s.kind,
            signal=s.signal,
        )
        for s in body.storms
    ]
    result = run_scenario(scorers, storms)
    return ScenarioOut(
        name=body.name,
        domains={d: ScenarioDomain.model_validate(v) for d, v in result.domains.items()},
        warnings=[PlannedWarning.model_validate(p.to_dict()) for p in result.warnings],
    )
