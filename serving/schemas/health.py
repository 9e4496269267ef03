"""Liveness and readiness, for load balancers and orchestrators."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class HealthOut(BaseModel):
    status: Literal["ok"]


class ReadinessOut(BaseModel):
    """Ready once a model serves and the store holds observations; the same body answers 503
    while not, so an operator sees why."""

    ready: bool
    models: dict[str, str] = Field(description="served domain -> model version")
    problems: dict[str, str] = Field(description="configured task -> why it is not served")
    notices: dict[str, str] = Field(
        default_factory=dict,
        description="configured task -> served, but from the local copy (registry away)",
    )
