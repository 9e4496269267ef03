"""Batches held for review: listed, released (taken as posted) or discarded, by an admin."""

from __future__ import annotations

from fastapi import APIRouter

from serving.auth import Admin
from serving.deps import IngestDep
from serving.schemas.errors import error_responses
from serving.schemas.quarantine import HeldListOut, HeldOut, ReleasedOut

router = APIRouter(
    prefix="/v1/quarantine", tags=["quarantine"], responses=error_responses(401, 403, 429)
)


@router.get("")
def list_held(
    key: Admin,
    ingest: IngestDep,
) -> HeldListOut:
    """Every batch held for review, oldest first, with why."""
    return HeldListOut(
        batches=[HeldOut.model_validate(b.to_dict()) for b in ingest.quarantine.list()]
    )


@router.post("/{batch_id}/release", responses=error_responses(404, 422))
def release(
    key: Admin,
    batch_id: str,
    ingest: IngestDep,
) -> ReleasedOut:
    """Take a held batch in as it was posted, the bounds lifted; it is rescored and acted on."""
    batch, counts = ingest.release(batch_id, by=key.name)
    return ReleasedOut(
        batch=HeldOut.model_validate(batch.to_dict()),
        inserted=counts.inserted,
        updated=counts.updated,
        unchanged=counts.unchanged,
        warning_changes=counts.warning_changes,
        released_by=key.name,
    )


@router.post("/{batch_id}/discard", responses=error_responses(404))
def discard(
    key: Admin,
    batch_id: str,
    ingest: IngestDep,
) -> HeldOut:
    """Drop a held batch for good (a sender's bad clock, a replayed day)."""
    batch, _ = ingest.quarantine.take(batch_id)
    return HeldOut.model_validate(batch.to_dict())
