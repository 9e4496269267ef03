"""What the ledger hands out: warnings, their history and outbox rows, as frozen records.

Records are plain values, detached from the database, so the HTTP layer can serialise them
(``to_dict`` gives ISO timestamps and levels as colour and number) and tests can compare them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from alerts.levels import Level

Status = Literal["open", "acknowledged", "closed"]
Action = Literal["opened", "escalated", "deescalated", "closed", "acknowledged"]
OutboxStatus = Literal["pending", "sent", "failed"]


def iso(ts: datetime | None) -> str | None:
    return ts.isoformat() if ts is not None else None


@dataclass(frozen=True)
class Warning:  # the product's word; shadows the builtin only where imported
    """One warning's lifecycle for one target: opened, raised or lowered, acknowledged, closed.

    ``level`` is the current level while open and the last level once closed (so a closed
    record still says which warning was lifted); ``peak_level`` is the most severe level it
    reached. ``details`` holds the latest assessment's place label, unit, peak and probabilities.
    """

    id: str
    domain: str
    series_id: str
    area_id: str | None
    level: Level
    peak_level: Level
    status: Status
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    acked_at: datetime | None
    acked_by: str | None
    ack_note: str
    message_zh: str
    message_en: str
    details: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: ISO timestamps, levels as colour plus number."""
        return {
            "id": self.id,
            "domain": self.domain,
            "series_id": self.series_id,
            "area_id": self.area_id,
            "level": self.level.colour,
            "level_number": int(self.level),
            "level_zh": self.level.name_zh,
            "peak_level": self.peak_level.colour,
            "peak_level_number": int(self.peak_level),
            "status": self.status,
            "opened_at": iso(self.opened_at),
            "updated_at": iso(self.updated_at),
            "closed_at": iso(self.closed_at),
            "acked_at": iso(self.acked_at),
            "acked_by": self.acked_by,
            "ack_note": self.ack_note,
            "message_zh": self.message_zh,
            "message_en": self.message_en,
            "details": self.details,
        }

    @classmethod
    def from_row(cls, r: Mapping[Any, Any]) -> Warning:
        """Build from a ledger row (JSON text decoded, level numbers made :class:`Level`)."""
        values = dict(r)
        values["level"], values["peak_level"] = Level(r["level"]), Level(r["peak_level"])
        values["ack_note"] = r["ack_note"] or ""
        values["details"] = json.loads(r["details"])
        return cls(**values)

    def payload(self, action: Action) -> dict[str, Any]:
        """The body sent to channels for one change: self-contained, so receivers need no lookup."""
        return {
            "id": self.id,
            "action": action,
            "level": self.level.colour,
            "level_number": int(self.level),
            "peak_level": self.peak_level.colour,
            "domain": self.domain,
            "series_id": self.series_id,
            "area_id": self.area_id,
            "label": self.details.get("label"),
            "peak_value": self.details.get("peak_value"),
            "peak_ts": self.details.get("peak_ts"),
            "unit": self.details.get("unit"),
            "probabilities": self.details.get("probabilities", {}),
            "message_zh": self.message_zh,
            "message_en": self.message_en,
            "status": self.status,
            "opened_at": iso(self.opened_at),
            "updated_at": iso(self.updated_at),
        }


@dataclass(frozen=True)
class HistoryEntry:
    """One step of a warning's lifecycle; the audit trail duty officers are asked about."""

    warning_id: str
    ts: datetime
    action: Action
    from_level: Level
    to_level: Level

    def to_dict(self) -> dict[str, Any]:
        return {
            "warning_id": self.warning_id,
            "ts": iso(self.ts),
            "action": self.action,
            "from_level": self.from_level.colour,
            "to_level": self.to_level.colour,
        }


@dataclass(frozen=True)
class OutboxItem:
    """A message waiting for (or done with) delivery on one channel."""

    id: str
    warning_id: str
    channel: str
    payload: dict[str, Any]
    status: OutboxStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "warning_id": self.warning_id,
            "channel": self.channel,
            "payload": self.payload,
            "status": self.status,
            "attempts": self.attempts,
            "next_attempt_at": iso(self.next_attempt_at),
            "last_error": self.last_error,
            "created_at": iso(self.created_at),
            "sent_at": iso(self.sent_at),
        }

    @classmethod
    def from_row(cls, r: Mapping[Any, Any]) -> OutboxItem:
        return cls(**{**r, "payload": json.loads(r["payload"])})
