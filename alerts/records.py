"""What the ledger hands out: warnings with their targets, history and outbox rows, as frozen
records.

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
Action = Literal[
    "opened",
    "reopened",
    "escalated",
    "deescalated",
    "closed",
    "acknowledged",
    "resolved",
    "paged",
    "renotified",
    "joined",
    "left",
]
OutboxStatus = Literal["pending", "sent", "failed"]
NOTIFIED: frozenset[str] = frozenset(
    {
        "opened",
        "reopened",
        "escalated",
        "deescalated",
        "closed",
        "resolved",
        "acknowledged",
        "paged",
        "renotified",
    }
)
"""The actions duty officers are told about (an acknowledgement too, so the duty room knows who
took charge); targets joining or leaving are only recorded."""


def iso(ts: datetime | None) -> str | None:
    return ts.isoformat() if ts is not None else None


@dataclass(frozen=True)
class TargetState:
    """One target of a warning: its own level (with hysteresis and hold), since when, and the
    forecast that put it there. ``left_at`` is set while it is back at no level."""

    series_id: str
    level: Level
    level_since: datetime
    probability: float
    joined_at: datetime
    label: str | None = None
    peak_value: float | None = None
    peak_ts: datetime | None = None
    threshold: float | None = None
    left_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "series_id": self.series_id,
            "label": self.label,
            "level": self.level.colour,
            "level_number": int(self.level),
            "level_since": iso(self.level_since),
            "probability": self.probability,
            "peak_value": self.peak_value,
            "peak_ts": iso(self.peak_ts),
            "threshold": self.threshold,
            "joined_at": iso(self.joined_at),
            "left_at": iso(self.left_at),
        }

    @classmethod
    def from_row(cls, r: Mapping[Any, Any]) -> TargetState:
        values = {k: v for k, v in r.items() if k != "warning_id"}
        return cls(**{**values, "level": Level(r["level"])})


@dataclass(frozen=True)
class Warning:  # the product's word; shadows the builtin only where imported
    """One warning of a domain in an area, for one episode, grouping its targets.

    ``level`` is its worst target's level while open and the last level once closed (so a
    closed record still says which warning was lifted); ``peak_level`` is the most severe level
    it reached; ``reopened`` counts the times it came back within its quiet period (flaps).
    ``details`` holds the worst target's forecast, the number of targets at a level and, for a
    warning with a likely cause in another domain, that warning. ``tier`` is the highest tier of
    its roster told so far, ``level_at`` when its level was reached (the escalation ladder
    counts from there) and ``notified_at`` when officers were last sent a message about it.
    """

    id: str
    domain: str
    area_id: str
    level: Level
    peak_level: Level
    status: Status
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    acked_at: datetime | None
    acked_by: str | None
    ack_note: str
    resolved_by: str | None
    resolve_note: str
    reopened: int
    tier: int
    level_at: datetime
    notified_at: datetime
    message_zh: str
    message_en: str
    details: dict[str, Any]
    targets: tuple[TargetState, ...] = ()

    @property
    def active(self) -> tuple[TargetState, ...]:
        """The targets at a level now, worst first."""
        on = [t for t in self.targets if t.level > Level.NONE and t.left_at is None]
        return tuple(sorted(on, key=lambda t: (-t.level, -t.probability, t.series_id)))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: ISO timestamps, levels as colour plus number, targets worst first."""
        worst = self.active[0].series_id if self.active else None
        return {
            "id": self.id,
            "domain": self.domain,
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
            "resolved_by": self.resolved_by,
            "resolve_note": self.resolve_note,
            "reopened": self.reopened,
            "tier": self.tier,
            "level_at": iso(self.level_at),
            "notified_at": iso(self.notified_at),
            "worst_series_id": worst,
            "targets_at_level": len(self.active),
            "message_zh": self.message_zh,
            "message_en": self.message_en,
            "details": self.details,
            "targets": [t.to_dict() for t in self.targets],
        }

    @classmethod
    def from_row(cls, r: Mapping[Any, Any], targets: tuple[TargetState, ...] = ()) -> Warning:
        """Build from a ledger row (JSON text decoded, level numbers made :class:`Level`)."""
        values = dict(r)
        values["level"], values["peak_level"] = Level(r["level"]), Level(r["peak_level"])
        values["ack_note"] = r["ack_note"] or ""
        values["resolve_note"] = r["resolve_note"] or ""
        values["details"] = json.loads(r["details"])
        return cls(**values, targets=targets)

    def payload(self, action: Action, **extra: Any) -> dict[str, Any]:
        """The body sent to channels for one change: self-contained, so receivers need no lookup
        (``extra``: the tier paged and its contacts, and a page's own texts)."""
        worst = self.active[0] if self.active else None
        texts = {k: extra.pop(k) for k in ("message_zh", "message_en") if k in extra}
        return extra | {
            "id": self.id,
            "action": action,
            "level": self.level.colour,
            "level_number": int(self.level),
            "peak_level": self.peak_level.colour,
            "domain": self.domain,
            "area_id": self.area_id,
            "series_id": worst.series_id if worst else None,
            "label": self.details.get("label"),
            "label_en": self.details.get("label_en"),
            "targets_at_level": len(self.active),
            "peak_value": self.details.get("peak_value"),
            "peak_ts": self.details.get("peak_ts"),
            "level_ts": self.details.get("level_ts"),
            "threshold": self.details.get("threshold"),
            "direction": self.details.get("direction"),
            "high_value": self.details.get("high_value"),
            "action_zh": self.details.get("action_zh"),
            "action_en": self.details.get("action_en"),
            "unit": self.details.get("unit"),
            "probabilities": self.details.get("probabilities", {}),
            "cause": self.details.get("cause"),
            "message_zh": texts.get("message_zh", self.message_zh),
            "message_en": texts.get("message_en", self.message_en),
            "status": self.status,
            "opened_at": iso(self.opened_at),
            "updated_at": iso(self.updated_at),
        }


@dataclass(frozen=True)
class HistoryEntry:
    """One step of a warning's lifecycle; the audit trail duty officers are asked about.

    ``actor`` is who made a person's change (acknowledge, resolve); ``series_id`` the target that
    joined or left; ``silenced_by`` the silence that held a message back."""

    warning_id: str
    ts: datetime
    action: Action
    from_level: Level
    to_level: Level
    series_id: str | None = None
    actor: str | None = None
    note: str = ""
    silenced_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "warning_id": self.warning_id,
            "ts": iso(self.ts),
            "action": self.action,
            "from_level": self.from_level.colour,
            "to_level": self.to_level.colour,
            "series_id": self.series_id,
            "actor": self.actor,
            "note": self.note,
            "silenced_by": self.silenced_by,
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
    first_tried_at: datetime | None = None  # on the dispatcher's clock
    retried_at: datetime | None = None  # put back in the queue by hand, by ``retried_by``
    retried_by: str | None = None

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
            "first_tried_at": iso(self.first_tried_at),
            "retried_at": iso(self.retried_at),
            "retried_by": self.retried_by,
        }

    @classmethod
    def from_row(cls, r: Mapping[Any, Any]) -> OutboxItem:
        return cls(**{**r, "payload": json.loads(r["payload"])})
