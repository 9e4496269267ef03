"""Silences: a duty officer holds delivery back for a sensor under repair or an area already
being handled. Silenced warnings are still graded, recorded and shown; only not delivered."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from serving.deps import ClockDep, LedgerDep
from serving.schemas.errors import error_responses
from serving.schemas.silences import ExpireIn, SilenceIn, SilenceOut, SilencesOut, SilenceState

router = APIRouter(prefix="/v1/silences", tags=["silences"])


@router.post("", status_code=201, responses=error_responses(422))
def add_silence(ledger: LedgerDep, clock: ClockDep, body: SilenceIn) -> SilenceOut:
    """Set a silence; it needs a matcher, who sets it, why, and an end in the future."""
    now = clock.now()
    starts_at, ends_at = body.window(now)
    silence = ledger.add_silence(
        domain=body.matchers.domain,
        area_id=body.matchers.area_id,
        series_id=body.matchers.series_id,
        starts_at=starts_at,
        ends_at=ends_at,
        created_by=body.created_by,
        comment=body.comment,
        now=now,
    )
    return SilenceOut.model_validate(silence.to_dict(now))


@router.get("")
def list_silences(
    ledger: LedgerDep, clock: ClockDep, state: Annotated[SilenceState | None, Query()] = None
) -> SilencesOut:
    """Every silence, newest first; only pending, active or expired ones on ask."""
    now = clock.now()
    found = ledger.silences(now=now, state=state)
    return SilencesOut(silences=[SilenceOut.model_validate(s.to_dict(now)) for s in found])


@router.post("/{silence_id}/expire", responses=error_responses(404, 422))
def expire_silence(
    ledger: LedgerDep, clock: ClockDep, silence_id: str, body: ExpireIn
) -> SilenceOut:
    """End a silence now; it stays listed, with who ended it."""
    now = clock.now()
    return SilenceOut.model_validate(
        ledger.expire_silence(silence_id, by=body.by, now=now).to_dict(now)
    )
