"""Silences: a person holds delivery back for a while, as Alertmanager does.

A silence has matchers (domain, area, series: each given one must equal the warning's, and a
series matches a warning that has it as a target), a start and an end, who set it and why. A
silenced warning is still graded, written to the ledger, shown on the dashboard and in its
history (marked with the silence); only its messages are not sent. A silence is never
deleted: expiring it early records who ended it and when.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, Engine, insert, select, update

from alerts.assessment import to_utc
from alerts.records import iso
from alerts.schema import Tables
from features import DataError, NotFoundError

SilenceState = Literal["pending", "active", "expired"]


@dataclass(frozen=True)
class Silence:
    id: str
    domain: str | None
    area_id: str | None
    series_id: str | None
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    created_at: datetime
    expired_at: datetime | None = None
    expired_by: str | None = None

    def state(self, now: datetime) -> SilenceState:
        end = min(self.ends_at, self.expired_at) if self.expired_at else self.ends_at
        if now >= end:
            return "expired"
        return "active" if now >= self.starts_at else "pending"

    def matches(self, domain: str, area_id: str, series_ids: Iterable[str]) -> bool:
        """Whether the warning of ``domain`` in ``area_id`` with these targets is silenced."""
        return (
            (self.domain is None or self.domain == domain)
            and (self.area_id is None or self.area_id == area_id)
            and (self.series_id is None or self.series_id in set(series_ids))
        )

    def to_dict(self, now: datetime) -> dict[str, Any]:
        return {
            "id": self.id,
            "matchers": {
                "domain": self.domain,
                "area_id": self.area_id,
                "series_id": self.series_id,
            },
            "starts_at": iso(self.starts_at),
            "ends_at": iso(self.ends_at),
            "created_by": self.created_by,
            "comment": self.comment,
            "created_at": iso(self.created_at),
            "expired_at": iso(self.expired_at),
            "expired_by": self.expired_by,
            "state": self.state(now),
        }

    @classmethod
    def from_row(cls, r: Mapping[Any, Any]) -> Silence:
        return cls(**dict(r))


class SilenceStore:
    """Silence methods of :class:`~alerts.ledger.Ledger`; needs ``engine`` and ``tables``."""

    engine: Engine
    tables: Tables

    def add_silence(
        self,
        *,
        starts_at: datetime,
        ends_at: datetime,
        created_by: str,
        comment: str,
        now: datetime,
        domain: str | None = None,
        area_id: str | None = None,
        series_id: str | None = None,
    ) -> Silence:
        """Record a silence; refused without a matcher, a person, a reason or a future end."""
        starts_at, ends_at = to_utc(starts_at, "starts_at"), to_utc(ends_at, "ends_at")
        now = to_utc(now, "now")
        if not any((domain, area_id, series_id)):
            raise DataError(
                "a silence needs a matcher: domain, area_id or series_id", column="matchers"
            )
        if not created_by.strip():
            raise DataError("who sets the silence must be named", column="created_by")
        if not comment.strip():
            raise DataError("say why the warnings are silenced", column="comment")
        if ends_at <= starts_at:
            raise DataError("a silence must end after it starts", column="ends_at")
        if ends_at <= now:
            raise DataError("a silence must end in the future", column="ends_at")
        silence_id = str(uuid.uuid4())
        row = dict(
            id=silence_id, domain=domain, area_id=area_id, series_id=series_id,
            starts_at=starts_at, ends_at=ends_at, created_by=created_by.strip(),
            comment=comment.strip(), created_at=now,
        )  # fmt: skip
        with self.engine.begin() as conn:
            conn.execute(insert(self.tables.silences).values(**row))
            return self._silence(conn, silence_id)

    def silences(self, *, now: datetime, state: SilenceState | None = None) -> list[Silence]:
        """Every silence, newest first; only those in ``state`` at ``now`` when given."""
        s = self.tables.silences
        with self.engine.connect() as conn:
            rows = conn.execute(select(s).order_by(s.c.created_at.desc(), s.c.id)).mappings()
            found = [Silence.from_row(r) for r in rows]
        return [x for x in found if state is None or x.state(now) == state]

    def expire_silence(self, silence_id: str, *, by: str, now: datetime) -> Silence:
        """End a silence now; the record stays, with who ended it."""
        if not by.strip():
            raise DataError("who expires the silence must be named", column="by")
        with self.engine.begin() as conn:
            current = self._silence(conn, silence_id)
            if current.state(now) == "expired":
                return current
            conn.execute(
                update(self.tables.silences)
                .filter_by(id=silence_id)
                .values(expired_at=now, expired_by=by.strip())
            )
            return self._silence(conn, silence_id)

    def _silence(self, conn: Connection, silence_id: str) -> Silence:
        row = conn.execute(select(self.tables.silences).filter_by(id=silence_id)).mappings()
        found = row.first()
        if found is None:
            raise NotFoundError(f"no silence {silence_id!r}")
        return Silence.from_row(found)

    def _silencing(
        self, conn: Connection, domain: str, area_id: str, series_ids: Iterable[str], now: datetime
    ) -> Silence | None:
        """The first active silence matching the warning, if any."""
        s = self.tables.silences
        q = select(s).where(s.c.starts_at <= now, s.c.ends_at > now).order_by(s.c.created_at)
        targets = list(series_ids)
        for r in conn.execute(q).mappings():
            silence = Silence.from_row(r)
            if silence.state(now) == "active" and silence.matches(domain, area_id, targets):
                return silence
        return None
