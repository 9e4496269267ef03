"""The outbox half of the ledger: messages waiting for delivery, and every attempt at them.

Rows are written in the same transaction as the warning change they announce (see
:class:`alerts.ledger.Ledger`), then read and updated here by the dispatcher. Rows are never
deleted: a message that could not be delivered stays, marked failed with its last error, so
nothing a duty officer should have seen is lost silently.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, and_, func, insert, select, update

from alerts.records import OutboxItem
from alerts.schema import Tables
from features import DataError, NotFoundError

OUTBOX_STATUSES = ("pending", "sent", "failed")


class OutboxStore:
    """Outbox methods of :class:`~alerts.ledger.Ledger`; needs ``engine`` and ``tables``."""

    engine: Engine
    tables: Tables

    def enqueue(
        self, warning_id: str, channel: str, payload: dict[str, Any], *, now: datetime
    ) -> str:
        """Queue one message for a channel, due at once; returns the outbox id."""
        with self.engine.begin() as conn:
            return self._enqueue(conn, warning_id, channel, payload, now)

    def due(self, now: datetime, *, limit: int = 100) -> list[OutboxItem]:
        """Pending messages whose next attempt is at or before ``now``, oldest first."""
        o = self.tables.outbox
        q = (
            select(o)
            .where(o.c.status == "pending", o.c.next_attempt_at <= now)
            .order_by(o.c.next_attempt_at, o.c.created_at)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [OutboxItem.from_row(r) for r in conn.execute(q).mappings()]

    def next_due_at(self) -> datetime | None:
        """When the earliest pending message is due; None when nothing is pending."""
        o = self.tables.outbox
        q = select(func.min(o.c.next_attempt_at)).where(o.c.status == "pending")
        with self.engine.connect() as conn:
            return conn.execute(q).scalar()  # min() keeps the column type: aware UTC

    def outbox(
        self,
        *,
        status: str | None = None,
        warning_id: str | None = None,
        channel: str | None = None,
        limit: int | None = None,
    ) -> list[OutboxItem]:
        """Outbox rows in the order they were queued (the latest ``limit`` of them, when given),
        for inspection and tests; nothing is ever deleted."""
        if status is not None and status not in OUTBOX_STATUSES:
            raise DataError(f"{status!r} is not one of {OUTBOX_STATUSES}", column="status")
        o = self.tables.outbox
        q = select(o)
        q = q.filter_by(status=status) if status else q
        q = q.filter_by(warning_id=warning_id) if warning_id else q
        q = q.filter_by(channel=channel) if channel else q
        if limit is not None:
            q = q.order_by(o.c.created_at.desc(), o.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            rows = [OutboxItem.from_row(r) for r in conn.execute(q).mappings()]
        return sorted(rows, key=lambda r: (r.created_at, r.id))

    def delivery(self, outbox_id: str) -> OutboxItem:
        """One outbox row.

        Raises:
            NotFoundError: no such message.
        """
        o = self.tables.outbox
        with self.engine.connect() as conn:
            row = conn.execute(select(o).filter_by(id=outbox_id)).mappings().first()
        if row is None:
            raise NotFoundError(f"no outbox message {outbox_id!r}")
        return OutboxItem.from_row(row)

    def requeue(
        self, ids: Sequence[str] = (), *, channel: str | None = None, by: str, now: datetime
    ) -> list[OutboxItem]:
        """Put messages back in the queue, due at ``now`` with their deadline counted from it:
        the given ids (each failed or pending; all or none), else every failed message (of
        ``channel``). Their attempts and last error stay, so the record shows what happened.

        Raises:
            NotFoundError: an id names no message.
            DataError: an id names a message already sent (its receiver has it).
        """
        o = self.tables.outbox
        with self.engine.begin() as conn:
            if ids:
                found = {
                    r["id"]: r["status"]
                    for r in conn.execute(
                        select(o.c.id, o.c.status).where(o.c.id.in_(ids))
                    ).mappings()
                }
                missing = [i for i in ids if i not in found]
                if missing:
                    raise NotFoundError(f"no outbox message {missing[0]!r}")
                sent = [i for i in ids if found[i] == "sent"]
                if sent:
                    raise DataError(
                        f"message {sent[0]!r} was delivered already; its receiver has it",
                        column="id",
                    )
                where: ColumnElement[bool] = o.c.id.in_(ids)
            else:
                where = o.c.status == "failed"
                if channel:
                    where = and_(where, o.c.channel == channel)
            chosen = [r[0] for r in conn.execute(select(o.c.id).where(where))]
            if chosen:
                conn.execute(
                    update(o)
                    .where(o.c.id.in_(chosen))
                    .values(status="pending", next_attempt_at=now, retried_at=now, retried_by=by)
                )
        return [self.delivery(i) for i in chosen]

    def outbox_counts(self) -> dict[tuple[str, str], int]:
        """(channel, status) -> messages: the outbox's depth and every channel's deliveries, in
        one grouped query (what the service's metrics report at each scrape)."""
        o = self.tables.outbox
        q = select(o.c.channel, o.c.status, func.count()).group_by(o.c.channel, o.c.status)
        with self.engine.connect() as conn:
            return {(c, s): int(n) for c, s, n in conn.execute(q)}

    def mark_sent(self, outbox_id: str, *, now: datetime | None = None) -> None:
        now = now or datetime.now(UTC)
        self._attempted(outbox_id, now, status="sent", sent_at=now)

    def mark_retry(
        self,
        outbox_id: str,
        error: str,
        next_attempt_at: datetime,
        *,
        now: datetime | None = None,
    ) -> None:
        now = now or datetime.now(UTC)
        self._attempted(outbox_id, now, last_error=error, next_attempt_at=next_attempt_at)

    def postpone(self, ids: Sequence[str], until: datetime) -> None:
        """Hold messages back until ``until`` without counting a try (a channel's minute is
        full: nothing failed)."""
        o = self.tables.outbox
        if ids:
            with self.engine.begin() as conn:
                conn.execute(update(o).where(o.c.id.in_(ids)).values(next_attempt_at=until))

    def mark_failed(self, outbox_id: str, error: str, *, now: datetime | None = None) -> None:
        """Give up on a message; it stays in the ledger with its last error."""
        self._attempted(outbox_id, now or datetime.now(UTC), status="failed", last_error=error)

    def _attempted(self, outbox_id: str, now: datetime, **values: Any) -> None:
        """Count a try made at ``now`` (the first one's time is kept: a channel's deadline runs
        from it, on the dispatcher's clock, whatever clock queued the message)."""
        o = self.tables.outbox
        first = func.coalesce(o.c.first_tried_at, now)
        stmt = (
            update(o)
            .filter_by(id=outbox_id)
            .values(attempts=o.c.attempts + 1, first_tried_at=first, **values)
        )
        with self.engine.begin() as conn:
            if conn.execute(stmt).rowcount == 0:
                raise NotFoundError(f"no outbox message {outbox_id!r}")

    def _enqueue(
        self, conn: Connection, warning_id: str, channel: str, payload: dict[str, Any], now: Any
    ) -> str:
        oid = _ordered_id()
        conn.execute(
            insert(self.tables.outbox).values(
                id=oid, warning_id=warning_id, channel=channel, status="pending", attempts=0,
                payload=json.dumps(payload, ensure_ascii=False), next_attempt_at=now,
                created_at=now,
            )
        )  # fmt: skip
        return oid


_last_ns = 0
_ns_lock = threading.Lock()


def _ordered_id() -> str:
    """A unique id (36 characters) that sorts in the order rows were queued: the rows of one
    change (the new tier's message, then those told before) are delivered and listed in the
    order they were written, not in the random order of a UUID."""
    global _last_ns
    with _ns_lock:
        _last_ns = max(_last_ns + 1, time.time_ns())
        stamp = _last_ns
    return f"{stamp:019d}-{uuid.uuid4().hex[:16]}"
