"""The ledger's tables, in SQLAlchemy Core so one definition serves SQLite and PostgreSQL.

Timestamps are stored as naive UTC (``timestamp without time zone``) and read back as aware UTC:
SQLite has no time-zone type, and a single convention keeps ``next_attempt_at <= now``
comparisons correct on both engines.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)

from alerts.assessment import to_utc


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC in Python, naive UTC in the database; naive input is refused."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return to_utc(value).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class Tables:
    metadata: MetaData
    warnings: Table
    history: Table
    outbox: Table


def build_tables(prefix: str = "") -> Tables:
    """Define the three tables; ``prefix`` lets several ledgers (or tests) share one database."""
    md = MetaData()
    warnings = Table(
        f"{prefix}warnings",
        md,
        Column("id", String(36), primary_key=True),
        Column("domain", String(64), nullable=False),
        Column("series_id", String(200), nullable=False),
        Column("area_id", String(200)),
        Column("level", Integer, nullable=False),
        Column("peak_level", Integer, nullable=False),
        Column("status", String(16), nullable=False),
        Column("opened_at", UTCDateTime, nullable=False),
        Column("updated_at", UTCDateTime, nullable=False),
        Column("closed_at", UTCDateTime),
        Column("acked_at", UTCDateTime),
        Column("acked_by", String(200)),
        Column("ack_note", Text, nullable=False, default=""),
        Column("message_zh", Text, nullable=False),
        Column("message_en", Text, nullable=False),
        Column("details", Text, nullable=False),
        Index(f"ix_{prefix}warnings_target", "domain", "series_id", "status"),
    )
    history = Table(
        f"{prefix}warning_history",
        md,
        Column("seq", Integer, primary_key=True, autoincrement=True),
        Column("warning_id", String(36), nullable=False, index=True),
        Column("ts", UTCDateTime, nullable=False),
        Column("action", String(16), nullable=False),
        Column("from_level", Integer, nullable=False),
        Column("to_level", Integer, nullable=False),
    )
    outbox = Table(
        f"{prefix}outbox",
        md,
        Column("id", String(36), primary_key=True),
        Column("warning_id", String(36), nullable=False, index=True),
        Column("channel", String(64), nullable=False),
        Column("payload", Text, nullable=False),
        Column("status", String(16), nullable=False),
        Column("attempts", Integer, nullable=False, default=0),
        Column("next_attempt_at", UTCDateTime, nullable=False),
        Column("last_error", Text),
        Column("created_at", UTCDateTime, nullable=False),
        Column("sent_at", UTCDateTime),
        Index(f"ix_{prefix}outbox_due", "status", "next_attempt_at"),
    )
    return Tables(md, warnings, history, outbox)
