"""The ledger's tables, in SQLAlchemy Core so one definition serves SQLite and PostgreSQL.

Timestamps are stored as naive UTC (``timestamp without time zone``) and read back as aware UTC:
SQLite has no time-zone type, and a single convention keeps ``next_attempt_at <= now``
comparisons correct on both engines.

One warning per domain, area and episode (``warnings``) groups its targets
(``warning_targets``: each target's own level and when it got there); ``warning_history`` is the
immutable record of every change and who made it; ``outbox`` holds the messages to deliver and
``silences`` the matchers that hold delivery back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Dialect,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    TypeDecorator,
    inspect,
)
from sqlalchemy import text as sql

from alerts.assessment import to_utc
from features import ConfigError

log = logging.getLogger(__name__)


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
    targets: Table
    history: Table
    outbox: Table
    silences: Table


def build_tables(prefix: str = "") -> Tables:
    """Define the tables; ``prefix`` lets several ledgers (or tests) share one database."""
    md = MetaData()
    warnings = Table(
        f"{prefix}warnings",
        md,
        Column("id", String(36), primary_key=True),
        Column("domain", String(64), nullable=False),
        Column("area_id", String(200), nullable=False),
        Column("level", Integer, nullable=False),
        Column("peak_level", Integer, nullable=False),
        Column("status", String(16), nullable=False),
        Column("opened_at", UTCDateTime, nullable=False),
        Column("updated_at", UTCDateTime, nullable=False),
        Column("closed_at", UTCDateTime),
        Column("acked_at", UTCDateTime),
        Column("acked_by", String(200)),
        Column("ack_note", Text, nullable=False, default=""),
        Column("resolved_by", String(200)),
        Column("resolve_note", Text, nullable=False, default=""),
        Column("reopened", Integer, nullable=False, default=0),
        Column("tier", Integer, nullable=False, default=0),
        Column("level_at", UTCDateTime, nullable=False),
        Column("notified_at", UTCDateTime, nullable=False),
        Column("message_zh", Text, nullable=False),
        Column("message_en", Text, nullable=False),
        Column("details", Text, nullable=False),
        Index(f"ix_{prefix}warnings_group", "domain", "area_id", "status"),
    )
    targets = Table(
        f"{prefix}warning_targets",
        md,
        Column("warning_id", String(36), nullable=False),
        Column("series_id", String(200), nullable=False),
        Column("level", Integer, nullable=False),
        Column("level_since", UTCDateTime, nullable=False),
        Column("label", Text),
        Column("peak_value", Float),
        Column("peak_ts", UTCDateTime),
        Column("probability", Float, nullable=False),
        Column("threshold", Float),
        Column("joined_at", UTCDateTime, nullable=False),
        Column("left_at", UTCDateTime),
        PrimaryKeyConstraint("warning_id", "series_id"),
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
        Column("series_id", String(200)),
        Column("actor", String(200)),
        Column("note", Text, nullable=False, default=""),
        Column("silenced_by", String(36)),
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
        Column("first_tried_at", UTCDateTime),
        Column("retried_at", UTCDateTime),
        Column("retried_by", String(200)),
        Index(f"ix_{prefix}outbox_due", "status", "next_attempt_at"),
    )
    silences = Table(
        f"{prefix}silences",
        md,
        Column("id", String(36), primary_key=True),
        Column("domain", String(64)),
        Column("area_id", String(200)),
        Column("series_id", String(200)),
        Column("starts_at", UTCDateTime, nullable=False),
        Column("ends_at", UTCDateTime, nullable=False),
        Column("created_by", String(200), nullable=False),
        Column("comment", Text, nullable=False),
        Column("created_at", UTCDateTime, nullable=False),
        Column("expired_at", UTCDateTime),
        Column("expired_by", String(200)),
    )
    return Tables(md, warnings, targets, history, outbox, silences)


def check_schema(engine: Engine, tables: Tables) -> None:
    """Bring a database made by an older ledger up to date where that is safe, else refuse it.

    A column added since that may be empty (when a message was first tried, who put it back)
    is added to the table, empty for the old rows, and the log says so: nothing recorded
    changes. A missing column the code cannot do without is refused: guessing it would corrupt
    the record duty officers are asked about."""
    found = inspect(engine)
    url = engine.url.render_as_string()
    for table in (tables.warnings, tables.targets, tables.history, tables.outbox, tables.silences):
        have = {c["name"] for c in found.get_columns(table.name)}
        missing = [c for c in table.columns if c.name not in have]
        required = sorted(c.name for c in missing if not c.nullable)
        if required:
            raise ConfigError(
                f"the ledger table {table.name!r} at {url} was made by an older version (no "
                f"column {', '.join(required)}); move the database aside or point "
                "CITYBRAIN_LEDGER_URL at a new one",
                key="ledger",
            )
        for column in missing:
            kind = column.type.compile(dialect=engine.dialect)
            with engine.begin() as conn:
                conn.execute(sql(f'ALTER TABLE "{table.name}" ADD COLUMN "{column.name}" {kind}'))
            log.warning(
                "ledger %s: added the column %s.%s (empty for the rows before it)",
                url, table.name, column.name,
            )  # fmt: skip
