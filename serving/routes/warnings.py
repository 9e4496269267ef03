"""Warnings: the list, one warning with its history, acknowledgement by a duty officer."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from serving.deps import LedgerDep
from serving.schemas.errors import error_responses
from serving.schemas.warnings import (
    AckIn,
    HistoryOut,
    Status,
    WarningDetailOut,
    WarningOut,
    WarningsOut,
)

router = APIRouter(prefix="/v1/warnings", tags=["warnings"])


@router.get("")
def list_warnings(
    ledger: LedgerDep,
    status: Annotated[Status | None, Query()] = None,
    domain: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=2000)] = 200,
) -> WarningsOut:
    """Warnings, most recently updated first; open, acknowledged or closed ones only on ask."""
    found = ledger.list(status=status, domain=domain, limit=limit)
    return WarningsOut(warnings=[WarningOut.model_validate(w.to_dict()) for w in found])


@router.get("/{warning_id}", responses=error_responses(404))
def get_warning(ledger: LedgerDep, warning_id: str) -> WarningDetailOut:
    """One warning with every change of its lifecycle."""
    warning = ledger.get(warning_id)
    history = [HistoryOut.model_validate(h.to_dict()) for h in ledger.history(warning_id)]
    return WarningDetailOut.model_validate({**warning.to_dict(), "history": history})


@router.post("/{warning_id}/ack", responses=error_responses(404, 422))
def acknowledge(ledger: LedgerDep, warning_id: str, body: AckIn) -> WarningOut:
    """A duty officer takes charge. The first acknowledgement of a level wins; a closed warning
    cannot be acknowledged (422)."""
    return WarningOut.model_validate(
        ledger.acknowledge(warning_id, by=body.by, note=body.note).to_dict()
    )
