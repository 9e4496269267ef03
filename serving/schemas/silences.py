"""Silences as duty officers set and list them, like Alertmanager's."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from serving.schemas import IsoTime

SilenceState = Literal["pending", "active", "expired"]


class Matchers(BaseModel):
    """Which warnings: each matcher given must equal the warning's (a series matches a warning
    that has it as a target); at least one."""

    model_config = ConfigDict(extra="forbid")
    domain: str | None = Field(None, max_length=64, examples=["waterlogging"])
    area_id: str | None = Field(None, max_length=200, examples=["gulou"])
    series_id: str | None = Field(None, max_length=200, examples=["ponding-gulou-03"])


class SilenceIn(BaseModel):
    """A silence from ``starts_at`` (now when not given) until ``ends_at``, or for ``hours``;
    set by the API key's holder."""

    model_config = ConfigDict(extra="forbid")
    matchers: Matchers
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    hours: float | None = Field(None, gt=0, le=24 * 30)
    comment: str = Field(min_length=1, max_length=1000, description="why (a sensor under repair)")

    @model_validator(mode="after")
    def _one_end(self) -> SilenceIn:
        if (self.ends_at is None) == (self.hours is None):
            raise ValueError("give either ends_at or hours")
        return self

    def window(self, now: datetime) -> tuple[datetime, datetime]:
        start = self.starts_at or now
        return start, self.ends_at or start + timedelta(hours=self.hours or 0)


class SilenceOut(BaseModel):
    id: str
    matchers: Matchers
    starts_at: IsoTime
    ends_at: IsoTime
    created_by: str
    comment: str
    created_at: IsoTime
    expired_at: IsoTime | None
    expired_by: str | None
    state: SilenceState


class SilencesOut(BaseModel):
    silences: list[SilenceOut] = Field(description="newest first")
