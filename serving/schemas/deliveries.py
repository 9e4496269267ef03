"""Deliveries: the outbox as operators see it, the dead letters among them, and putting them
back."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from serving.schemas import IsoTime

DeliveryState = Literal["pending", "sent", "failed"]


class DeliveryOut(BaseModel):
    """One message to one channel: ``pending`` (waiting for its next try at
    ``next_attempt_at``), ``sent``, or ``failed`` (given up on or refused: the dead letter,
    ``last_error`` says why). ``id`` is the idempotency key every try carried."""

    id: str
    warning_id: str
    channel: str
    state: DeliveryState
    attempts: int
    next_attempt_at: IsoTime
    last_error: str | None
    created_at: IsoTime
    sent_at: IsoTime | None
    retried_at: IsoTime | None = Field(description="when it was last put back by hand")
    retried_by: str | None
    action: str | None = Field(description="the change it announces (opened, escalated, ...)")
    payload: dict[str, Any]

    @classmethod
    def of(cls, row: dict[str, Any]) -> DeliveryOut:
        """From an outbox row's ``to_dict()``."""
        return cls.model_validate(
            {**row, "state": row["status"], "action": row["payload"].get("action")}
        )


class DeliveriesOut(BaseModel):
    deliveries: list[DeliveryOut]


class RetryIn(BaseModel):
    """Put every failed message back in the queue (of one channel, when given)."""

    model_config = ConfigDict(extra="forbid")
    channel: str | None = Field(None, max_length=64, examples=["duty-webhook"])
