"""Deliveries: what was sent to which channel, what is waiting, and the dead letters (given up
on after the channel's retry deadline, or refused by their receiver), which an admin puts back
once the receiver is fixed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from serving.auth import Admin, Officer
from serving.deps import DispatcherDep, LedgerDep
from serving.schemas.deliveries import DeliveriesOut, DeliveryOut, DeliveryState, RetryIn
from serving.schemas.errors import error_responses

router = APIRouter(
    prefix="/v1/deliveries", tags=["deliveries"], responses=error_responses(401, 403, 429)
)


@router.get("", responses=error_responses(422))
def list_deliveries(
    key: Officer,
    ledger: LedgerDep,
    state: Annotated[DeliveryState | None, Query()] = None,
    channel: Annotated[str | None, Query(max_length=64)] = None,
    warning_id: Annotated[str | None, Query(max_length=36)] = None,
    limit: Annotated[int, Query(ge=1, le=2000)] = 200,
) -> DeliveriesOut:
    """The latest messages in the order they were queued (``officer``); ``state=failed`` lists
    the dead letters."""
    found = ledger.outbox(status=state, channel=channel, warning_id=warning_id, limit=limit)
    return DeliveriesOut(deliveries=[DeliveryOut.of(r.to_dict()) for r in found])


@router.get("/{delivery_id}", responses=error_responses(404))
def get_delivery(key: Officer, ledger: LedgerDep, delivery_id: str) -> DeliveryOut:
    """One message with its attempts and last error (``officer``)."""
    return DeliveryOut.of(ledger.delivery(delivery_id).to_dict())


@router.post("/{delivery_id}/retry", responses=error_responses(404, 422))
def retry_delivery(key: Admin, dispatcher: DispatcherDep, delivery_id: str) -> DeliveryOut:
    """Put one failed (or pending) message back in the queue, due now with a fresh deadline
    (``admin``); recorded as done by the key's holder. A delivered one is refused (422)."""
    (row,) = dispatcher.retry([delivery_id], by=key.name)
    return DeliveryOut.of(row.to_dict())


@router.post("/retry", responses=error_responses(404, 422))
def retry_failed(key: Admin, dispatcher: DispatcherDep, body: RetryIn) -> DeliveriesOut:
    """Put every failed message back in the queue, of one channel when given (``admin``):
    after a receiver was down past the deadline, or refused messages until it was fixed."""
    rows = dispatcher.retry(channel=body.channel, by=key.name)
    return DeliveriesOut(deliveries=[DeliveryOut.of(r.to_dict()) for r in rows])
