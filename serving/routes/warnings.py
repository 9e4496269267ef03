"""Warnings: the list, one warning with its targets and history, and a duty officer's
acknowledgement or resolution (both told to the channels, so the duty room knows)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from alerts import Ledger, Status, WarningEngine
from serving.auth import Officer, Reader
from serving.deps import ClockDep, EngineDep, LedgerDep, ViewsDep
from serving.schemas.errors import error_responses
from serving.schemas.warnings import (
    AckIn,
    HistoryListOut,
    HistoryOut,
    ResolveIn,
    WarningDetailOut,
    WarningOut,
    WarningsOut,
)

router = APIRouter(
    prefix="/v1/warnings", tags=["warnings"], responses=error_responses(401, 403, 429)
)


def _told(ledger: Ledger, engine: WarningEngine, warning_id: str) -> tuple[str, ...]:
    """The channels of everyone told of the warning so far (its roster's tiers paged)."""
    warning = ledger.get(warning_id)
    return engine.channels_for(warning.domain, warning.area_id, warning.tier)


@router.get("")
def list_warnings(
    key: Reader,
    ledger: LedgerDep,
    status: Annotated[Status | None, Query()] = None,
    domain: Annotated[str | None, Query()] = None,
    area_id: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=2000)] = 200,
) -> WarningsOut:
    """Warnings, most recently updated first; open, acknowledged or closed ones only on ask."""
    found = ledger.list(status=status, domain=domain, limit=limit, area_id=area_id)
    return WarningsOut(warnings=[WarningOut.model_validate(w.to_dict()) for w in found])


@router.get("/{warning_id}", responses=error_responses(404))
def get_warning(
    key: Reader,
    ledger: LedgerDep,
    warning_id: str,
) -> WarningDetailOut:
    """One warning with its targets and every change of its lifecycle."""
    warning = ledger.get(warning_id)
    history = [HistoryOut.model_validate(h.to_dict()) for h in ledger.history(warning_id)]
    return WarningDetailOut.model_validate({**warning.to_dict(), "history": history})


@router.get("/{warning_id}/history", responses=error_responses(404))
def warning_history(
    key: Reader,
    ledger: LedgerDep,
    warning_id: str,
) -> HistoryListOut:
    """The immutable record of a warning: every change, who made it and why."""
    entries = ledger.history(warning_id)
    return HistoryListOut(history=[HistoryOut.model_validate(h.to_dict()) for h in entries])


@router.post("/{warning_id}/ack", responses=error_responses(404, 422))
def acknowledge(
    key: Officer,
    ledger: LedgerDep,
    engine: EngineDep,
    clock: ClockDep,
    warning_id: str,
    body: AckIn,
) -> WarningOut:
    """A duty officer (the key's holder) takes charge. The first acknowledgement of a level
    wins; a closed warning cannot be acknowledged (422). Levels stay as they were, so the risk
    documents do too."""
    told = _told(ledger, engine, warning_id)
    warning = ledger.acknowledge(
        warning_id, by=key.name, note=body.note, channels=told, now=clock.now()
    )
    return WarningOut.model_validate(warning.to_dict())


@router.post("/{warning_id}/resolve", responses=error_responses(404, 422))
def resolve(
    key: Officer,
    ledger: LedgerDep,
    engine: EngineDep,
    clock: ClockDep,
    views: ViewsDep,
    warning_id: str,
    body: ResolveIn,
) -> WarningOut:
    """A duty officer lifts a warning (the water has gone, the road is clear), saying why; it
    closes, the channels are told, and the forecast does not reopen it at the same level within
    its quiet period. A closed warning cannot be resolved (422). Its targets' levels fall to
    none, so the risk documents are built again."""
    told = _told(ledger, engine, warning_id)
    warning = ledger.resolve(
        warning_id, by=key.name, note=body.note, channels=told, now=clock.now()
    )
    views.touch()
    return WarningOut.model_validate(warning.to_dict())
