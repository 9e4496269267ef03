"""Warnings: the list, one warning with its history, acknowledgement by a duty officer."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from serving.deps import RuntimeDep

router = APIRouter(prefix="/v1/warnings", tags=["warnings"])


class AckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    by: str = Field(min_length=1, max_length=100, description="who acknowledges")
    note: str = Field("", max_length=1000)


@router.get("")
def list_warnings(
    runtime: RuntimeDep,
    status: Literal["open", "acknowledged", "closed"] | None = Query(None),
    domain: str | None = Query(None),
    limit: int = Query(200, ge=1, le=2000),
) -> dict[str, Any]:
    found = runtime.ledger.list(status=status, domain=domain, limit=limit)
    return {"warnings": [w.to_dict() for w in found]}


@router.get("/{warning_id}")
def get_warning(runtime: RuntimeDep, warning_id: str) -> dict[str, Any]:
    w = runtime.ledger.get(warning_id)
    return {**w.to_dict(), "history": [h.to_dict() for h in runtime.ledger.history(warning_id)]}


@router.post("/{warning_id}/ack")
def acknowledge(runtime: RuntimeDep, warning_id: str, body: AckIn) -> dict[str, Any]:
    return runtime.ledger.acknowledge(warning_id, by=body.by, note=body.note).to_dict()
