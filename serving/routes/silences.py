"""Silences: a duty officer holds delivery back for a sensor under repair or an area already
being handled. Silenced warnings are still graded, recorded and shown; only not delivered."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from serving.auth import Officer, Reader
from serving.deps import ClockDep, LedgerDep
from serving.schemas.errors import error_responses
from serving.schemas.silences import SilenceIn, SilenceOut, SilencesOut, SilenceState

router = APIRouter(
    prefix="/v1/silences", tags=["silences"], responses=error_responses(401, 403, 429)
)


@router.post("", status_code=201, responses=error_responses(422))
def add_silence(
    key: Officer,
    ledger: LedgerDep,
    clock: ClockDep,
    body: SilenceIn,
) -> SilenceOut:
    """Set a silence (``officer``); it needs a matcher, why, and an end in the future. It is
    recorded as set by the key's holder."""
    now = clock.now()
    starts_at, ends_at = body.window(now)
    silence = ledger.add_silence(
        domain=body.matchers.domain,
        area_id=body.matchers.area_id,
        series_id=body.matchers.series_id,
        starts_at=starts_at,
        ends_at=ends_at,
        created_by=key.name,
        comment=body.comment,
        now=now,
    )
    return SilenceOut.model_validate(silence.to_dict(now))


@router.get("")
def list_silences(
    key: Reader,
    ledger: LedgerDep,
    clock: ClockDep,
    state: Annotated[SilenceState | None, Query()] = None,
) -> SilencesOut:
    """Every silence, newest first; only pending, active or expired ones on ask."""
    now = clock.now()
    found = ledger.silences(now=now, state=state)
    return SilencesOut(silences=[SilenceOut.model_validate(s.to_dict(now)) for s in found])


@router.post("/{silence_id}/expire", responses=error_responses(404, 422))
def expire_silence(
    key: Officer,
    ledger: LedgerDep,
    clock: ClockDep,
    silence_id: str,
) -> SilenceOut:
    """End a silence now (``officer``); it stays listed, with the key's holder as who ended
    it."""
    now = clock.now()
    return SilenceOut.model_validate(
        ledger.expire_silence(silence_id, by=key.name, now=now).to_dict(now)
    )
