"""Batches held for review, and their release by an admin."""

from __future__ import annotations

from pydantic import BaseModel, Field

from serving.schemas import IsoTime


class HeldOut(BaseModel):
    id: str
    table: str = Field(description="observations, events or weather_forecasts")
    rows: int = Field(description="rows held (those not already stored as posted)")
    reason: str = Field(description="why the batch was held: the bound it would cross")
    posted_by: str = Field(description="the holder of the key that posted it")
    held_at: IsoTime


class HeldListOut(BaseModel):
    batches: list[HeldOut]


class ReleasedOut(BaseModel):
    batch: HeldOut
    inserted: int
    updated: int
    unchanged: int
    warning_changes: int
    released_by: str
