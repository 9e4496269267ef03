"""The warning ledger: every warning, its history and its outbox, in one SQL database.

The ledger is the system of record for what duty officers were told and when. A state change,
its history row and its outbox rows are written in one transaction, so a crash can never leave
a warning that changed without a message to send, or a message about a change that did not
happen (the transactional-outbox pattern). SQLite by default, PostgreSQL in production.
"""

from __future__ import annotations

import builtins
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, insert, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

from alerts.levels import Level
from alerts.outbox import OutboxStore
from alerts.records import Action, HistoryEntry, Warning
from alerts.schema import build_tables
from features import DataError, NotFoundError

_STATUSES = ("open", "acknowledged", "closed")


class Ledger(OutboxStore):
    """Warnings, history and outbox over a SQLAlchemy URL; tables are created on start.

    Args:
        url: e.g. ``"sqlite:///path/warnings.db"`` or ``"postgresql+psycopg://…"``.
        table_prefix: prepended to every table name, so several ledgers can share a database.
    """

    def __init__(self, url: str, *, table_prefix: str = "") -> None:
        parsed = make_url(url)
        kwargs: dict[str, Any] = {}
        if parsed.get_backend_name() == "sqlite":
            kwargs["connect_args"] = {"check_same_thread": False}
            if parsed.database in (None, "", ":memory:"):
                kwargs["poolclass"] = StaticPool  # one shared in-memory database
            else:
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        self.engine = create_engine(url, **kwargs)
        self.tables = build_tables(table_prefix)
        self.tables.metadata.create_all(self.engine)

    def dispose(self) -> None:
        """Release pooled connections (the data stays)."""
        self.engine.dispose()

    def drop_tables(self) -> None:
        """Remove this ledger's tables; for tests that share a database server."""
        self.tables.metadata.drop_all(self.engine)

    # -- state changes: each one transaction with its history and outbox rows --------------

    def open_warning(
        self,
        *,
        domain: str,
        series_id: str,
        area_id: str | None,
        level: Level,
        now: datetime,
        message_zh: str,
        message_en: str,
        details: dict[str, Any] | None = None,
        channels: Sequence[str] = (),
    ) -> Warning:
        """Open a warning; refused if the target already has one that is not closed."""
        if level == Level.NONE:
            raise DataError("a warning cannot be opened at level NONE", column="level")
        t = self.tables.warnings
        with self.engine.begin() as conn:
            if self._current(conn, domain, series_id) is not None:
                raise DataError(f"{domain}/{series_id} already has an open warning")
            wid = str(uuid.uuid4())
            conn.execute(
                insert(t).values(
                    id=wid, domain=domain, series_id=series_id, area_id=area_id,
                    level=int(level), peak_level=int(level), status="open", opened_at=now,
                    updated_at=now, ack_note="", message_zh=message_zh, message_en=message_en,
                    details=json.dumps(details or {}, ensure_ascii=False),
                )
            )  # fmt: skip
            return self._record(conn, wid, "opened", Level.NONE, now, channels)

    def change_level(
        self,
        warning_id: str,
        *,
        level: Level,
        now: datetime,
        message_zh: str,
        message_en: str,
        details: dict[str, Any] | None = None,
        channels: Sequence[str] = (),
    ) -> Warning:
        """Escalate or de-escalate. Escalation needs a fresh acknowledgement (status -> open)."""
        with self.engine.begin() as conn:
            old = self._live(conn, warning_id)
            if level == Level.NONE or level == old.level:
                raise DataError(f"cannot change {old.level.colour} to {level.colour}; use close")
            up = level > old.level
            values: dict[str, Any] = {
                "level": int(level),
                "peak_level": int(max(level, old.peak_level)),
                "status": "open" if up else old.status,
                "updated_at": now,
                "message_zh": message_zh,
                "message_en": message_en,
            }
            if details is not None:
                values["details"] = json.dumps(details, ensure_ascii=False)
            conn.execute(update(self.tables.warnings).filter_by(id=warning_id).values(**values))
            action: Action = "escalated" if up else "deescalated"
            return self._record(conn, warning_id, action, old.level, now, channels)

    def close_warning(
        self,
        warning_id: str,
        *,
        now: datetime,
        message_zh: str,
        message_en: str,
        details: dict[str, Any] | None = None,
        channels: Sequence[str] = (),
    ) -> Warning:
        """Close (lift) a warning; it keeps its last level so the record says what was lifted."""
        with self.engine.begin() as conn:
            old = self._live(conn, warning_id)
            values: dict[str, Any] = {"status": "closed", "closed_at": now, "updated_at": now}
            values |= {"message_zh": message_zh, "message_en": message_en}
            if details is not None:
                values["details"] = json.dumps(details, ensure_ascii=False)
            conn.execute(update(self.tables.warnings).filter_by(id=warning_id).values(**values))
            return self._record(conn, warning_id, "closed", old.level, now, channels)

    def acknowledge(
        self,
        warning_id: str,
        by: str,
        note: str = "",
        *,
        now: datetime | None = None,
        channels: Sequence[str] = (),
    ) -> Warning:
        """Record that a duty officer took charge. The first acknowledgement of a level wins."""
        if not by.strip():
            raise DataError("who acknowledges must be named", column="by")
        now = now or datetime.now(UTC)
        with self.engine.begin() as conn:
            old = self._live(conn, warning_id)
            if old.status == "acknowledged":
                return old
            conn.execute(
                update(self.tables.warnings)
                .filter_by(id=warning_id)
                .values(status="acknowledged", acked_at=now, acked_by=by, ack_note=note)
            )
            return self._record(conn, warning_id, "acknowledged", old.level, now, channels)

    # -- reads -------------------------------------------------------------------------------

    def get(self, warning_id: str) -> Warning:
        with self.engine.connect() as conn:
            return self._get(conn, warning_id)

    def current(self, domain: str, series_id: str) -> Warning | None:
        """The target's warning that is not closed, if any."""
        with self.engine.connect() as conn:
            return self._current(conn, domain, series_id)

    def list(
        self, status: str | None = None, domain: str | None = None, limit: int = 200
    ) -> list[Warning]:
        """Warnings, most recently updated first."""
        if status is not None and status not in _STATUSES:
            raise DataError(f"{status!r} is not one of {', '.join(_STATUSES)}", column="status")
        t = self.tables.warnings
        q = select(t).order_by(t.c.updated_at.desc(), t.c.id).limit(limit)
        q = q.filter_by(status=status) if status else q
        q = q.filter_by(domain=domain) if domain else q
        with self.engine.connect() as conn:
            return [Warning.from_row(r) for r in conn.execute(q).mappings()]

    def history(self, warning_id: str) -> builtins.list[HistoryEntry]:
        h = self.tables.history
        with self.engine.connect() as conn:
            self._get(conn, warning_id)
            rows = conn.execute(select(h).filter_by(warning_id=warning_id).order_by(h.c.seq))
            return [
                HistoryEntry(r.warning_id, r.ts, r.action, Level(r.from_level), Level(r.to_level))
                for r in rows
            ]

    # -- internals ---------------------------------------------------------------------------

    def _get(self, conn: Connection, warning_id: str) -> Warning:
        row = conn.execute(select(self.tables.warnings).filter_by(id=warning_id)).mappings()
        found = row.first()
        if found is None:
            raise NotFoundError(f"no warning {warning_id!r}")
        return Warning.from_row(found)

    def _live(self, conn: Connection, warning_id: str) -> Warning:
        warning = self._get(conn, warning_id)
        if warning.status == "closed":
            raise DataError(f"warning {warning_id} is closed", column="status")
        return warning

    def _current(self, conn: Connection, domain: str, series_id: str) -> Warning | None:
        t = self.tables.warnings
        q = (
            select(t)
            .where(t.c.domain == domain, t.c.series_id == series_id, t.c.status != "closed")
            .order_by(t.c.opened_at.desc())
            .limit(1)
        )
        row = conn.execute(q).mappings().first()
        return None if row is None else Warning.from_row(row)

    def _record(
        self,
        conn: Connection,
        warning_id: str,
        action: Action,
        from_level: Level,
        now: datetime,
        channels: Sequence[str],
    ) -> Warning:
        """Write the history row and one outbox row per channel for a change just made."""
        warning = self._get(conn, warning_id)
        to_level = Level.NONE if action == "closed" else warning.level
        conn.execute(
            insert(self.tables.history).values(
                warning_id=warning_id, ts=now, action=action,
                from_level=int(from_level), to_level=int(to_level),
            )
        )  # fmt: skip
        for channel in channels:
            self._enqueue(conn, warning_id, channel, warning.payload(action), now)
        return warning
