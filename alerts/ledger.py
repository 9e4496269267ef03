"""The warning ledger: every warning, its targets, history, outbox and silences, in one SQL
database.

The ledger is the system of record for what duty officers were told and when. A warning's
change, its targets, its history rows and its outbox rows are written in one transaction, so a
crash can never leave a warning that changed without a message to send, or a message about a
change that did not happen (the transactional-outbox pattern). SQLite by default, PostgreSQL in
production. The engine decides (:class:`WarningPlan`); the ledger records.
"""

from __future__ import annotations

import builtins
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, delete, func, insert, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

from alerts.levels import Level
from alerts.messages import Lang, render_by_person, render_escalation
from alerts.outbox import OutboxStore
from alerts.records import NOTIFIED, Action, HistoryEntry, TargetState, Warning
from alerts.schema import build_tables, check_schema
from alerts.silences import Silence, SilenceStore
from features import DataError, NotFoundError

_STATUSES = ("open", "acknowledged", "closed")


@dataclass(frozen=True)
class WarningPlan:
    """What the engine decided for one domain and area in one evaluation.

    ``warning_id`` is None for a new warning; ``action`` the lifecycle change announced to the
    channels (None when only targets joined, left or moved within the level); ``targets`` the
    warning's full set of targets afterwards.
    """

    domain: str
    area_id: str
    warning_id: str | None
    action: Action | None
    level: Level
    targets: tuple[TargetState, ...]
    joined: tuple[str, ...] = ()
    left: tuple[str, ...] = ()
    message_zh: str = ""
    message_en: str = ""
    details: dict[str, Any] = field(default_factory=dict)


class Ledger(OutboxStore, SilenceStore):
    """Warnings, targets, history, outbox and silences over a SQLAlchemy URL; tables are created
    on start, and a database made by an older ledger is refused with what to do.

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
        check_schema(self.engine, self.tables)

    def dispose(self) -> None:
        """Release pooled connections (the data stays)."""
        self.engine.dispose()

    def drop_tables(self) -> None:
        """Remove this ledger's tables; for tests that share a database server."""
        self.tables.metadata.drop_all(self.engine)

    # -- the engine's changes: each one transaction with its targets, history and outbox ------

    def save(
        self, plan: WarningPlan, *, now: datetime, channels: Sequence[str] = ()
    ) -> tuple[Warning, Silence | None]:
        """Write one plan; returns the warning as it now stands and the silence that held its
        message back (None when it was queued, or when nothing was to be announced)."""
        with self.engine.begin() as conn:
            if plan.warning_id is None:
                if plan.action != "opened" or plan.level == Level.NONE:
                    raise DataError("a new warning is opened at a level", column="action")
                wid, before = self._insert(conn, plan, now), Level.NONE
            else:
                wid = plan.warning_id
                before = self._get(conn, wid).level
                self._update(conn, plan, now)
            t = self.tables.targets
            conn.execute(delete(t).filter_by(warning_id=wid))
            for target in plan.targets:
                conn.execute(insert(t).values(warning_id=wid, **_target_row(target)))
            warning = self._get(conn, wid)
            silence = None
            if plan.action is not None:
                after = Level.NONE if plan.action == "closed" else warning.level
                silence = self._tell(conn, warning, plan.action, before, after, now, channels)
            for series_id in plan.joined:
                self._history(conn, wid, now, "joined", warning.level, warning.level, series_id)
            for series_id in plan.left:
                self._history(conn, wid, now, "left", warning.level, warning.level, series_id)
            return self._get(conn, wid), silence

    # -- people's changes --------------------------------------------------------------------

    def acknowledge(
        self,
        warning_id: str,
        by: str,
        note: str = "",
        *,
        now: datetime | None = None,
        channels: Sequence[str] = (),
    ) -> Warning:
        """Record that a duty officer took charge (and tell ``channels``, so the rest of the
        duty room knows). The first acknowledgement of a level wins; escalation stops."""
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
            warning = self._get(conn, warning_id)
            self._tell(conn, warning, "acknowledged", old.level, old.level, now, channels,
                       actor=by, note=note)  # fmt: skip
            return warning

    def resolve(
        self,
        warning_id: str,
        by: str,
        note: str,
        *,
        now: datetime | None = None,
        channels: Sequence[str] = (),
    ) -> Warning:
        """A person lifts a warning (the water has gone, the road is clear); who and why are
        recorded, channels are told, and the engine does not reopen it at the same level within
        its quiet period."""
        if not by.strip():
            raise DataError("who resolves must be named", column="by")
        if not note.strip():
            raise DataError("say why the warning is resolved", column="note")
        now = now or datetime.now(UTC)
        with self.engine.begin() as conn:
            old = self._live(conn, warning_id)
            zh, en = (render_by_person(old, by, note, lang=lang) for lang in ("zh", "en"))
            conn.execute(
                update(self.tables.warnings).filter_by(id=warning_id).values(
                    status="closed", closed_at=now, updated_at=now, resolved_by=by,
                    resolve_note=note, message_zh=zh, message_en=en,
                )
            )  # fmt: skip
            warning = self._get(conn, warning_id)
            self._tell(conn, warning, "resolved", old.level, Level.NONE, now, channels,
                       actor=by, note=note)  # fmt: skip
            return warning

    def page(
        self,
        warning_id: str,
        *,
        tier: int,
        name: str,
        contacts: Sequence[str],
        now: datetime,
        channels: Sequence[str],
    ) -> Warning:
        """Tell the next tier of the roster about a warning nobody acknowledged in time."""
        with self.engine.begin() as conn:
            old = self._live(conn, warning_id)
            if old.status != "open" or tier <= old.tier:
                return old
            conn.execute(update(self.tables.warnings).filter_by(id=warning_id).values(tier=tier))
            warning = self._get(conn, warning_id)
            extra = {"tier": name, "tier_number": tier, "contacts": list(contacts)}
            extra |= _escalation_texts(warning, "paged", name, now)
            self._tell(conn, warning, "paged", old.level, old.level, now, channels, note=name,
                       extra=extra)  # fmt: skip
            return self._get(conn, warning_id)

    def renotify(
        self, warning_id: str, *, name: str, now: datetime, channels: Sequence[str]
    ) -> Warning:
        """Send an unacknowledged warning again to the tiers told so far."""
        with self.engine.begin() as conn:
            old = self._live(conn, warning_id)
            if old.status != "open":
                return old
            extra = {"tier": name, "tier_number": old.tier}
            extra |= _escalation_texts(old, "renotified", name, now)
            self._tell(conn, old, "renotified", old.level, old.level, now, channels, note=name,
                       extra=extra)  # fmt: skip
            return self._get(conn, warning_id)

    # -- reads -------------------------------------------------------------------------------

    def get(self, warning_id: str) -> Warning:
        with self.engine.connect() as conn:
            return self._get(conn, warning_id)

    def current(self, domain: str, area_id: str) -> Warning | None:
        """The domain's warning in the area that is not closed, if any."""
        with self.engine.connect() as conn:
            return self._latest(conn, domain, area_id, closed=False)

    def open_areas(self) -> set[tuple[str, str]]:
        """``(domain, area_id)`` of every warning not closed: one query, so a scoring pass
        touches only the areas where something is open or something rises."""
        w = self.tables.warnings
        q = select(w.c.domain, w.c.area_id).where(w.c.status != "closed").distinct()
        with self.engine.connect() as conn:
            return {(d, a) for d, a in conn.execute(q)}

    def last_closed(self, domain: str, area_id: str) -> Warning | None:
        """The domain's most recently closed warning in the area, if any."""
        with self.engine.connect() as conn:
            return self._latest(conn, domain, area_id, closed=True)

    def list(
        self,
        status: str | None = None,
        domain: str | None = None,
        limit: int = 200,
        *,
        area_id: str | None = None,
    ) -> builtins.list[Warning]:
        """Warnings with their targets, most recently updated first."""
        if status is not None and status not in _STATUSES:
            raise DataError(f"{status!r} is not one of {', '.join(_STATUSES)}", column="status")
        w = self.tables.warnings
        q = select(w).order_by(w.c.updated_at.desc(), w.c.id).limit(limit)
        q = q.filter_by(status=status) if status else q
        q = q.filter_by(domain=domain) if domain else q
        q = q.filter_by(area_id=area_id) if area_id else q
        with self.engine.connect() as conn:
            rows = builtins.list(conn.execute(q).mappings())
            targets = self._targets(conn, [r["id"] for r in rows])
            return [Warning.from_row(r, targets.get(r["id"], ())) for r in rows]

    def target_levels(self, domain: str) -> dict[str, Level]:
        """Each target's level in the domain's warnings that are not closed (targets at no
        level left out): what the dashboard colours a sensor by."""
        w, t = self.tables.warnings, self.tables.targets
        q = (
            select(t.c.series_id, t.c.level)
            .join(w, w.c.id == t.c.warning_id)
            .where(w.c.domain == domain, w.c.status != "closed", t.c.left_at.is_(None))
        )
        with self.engine.connect() as conn:
            return {r.series_id: Level(r.level) for r in conn.execute(q) if r.level > 0}

    def history(self, warning_id: str) -> builtins.list[HistoryEntry]:
        """A warning's history, oldest first.

        Raises:
            NotFoundError: no such warning.
        """
        return [entry for _, entry in self.numbered_history(warning_id)]

    def numbered_history(self, warning_id: str) -> builtins.list[tuple[int, HistoryEntry]]:
        """A warning's history with each entry's sequence number (its CAP identifiers).

        Raises:
            NotFoundError: no such warning.
        """
        h = self.tables.history
        with self.engine.connect() as conn:
            self._get(conn, warning_id)
            rows = conn.execute(select(h).filter_by(warning_id=warning_id).order_by(h.c.seq))
            return [(int(r.seq), _entry(r)) for r in rows]

    def changes_since(
        self, seq: int, *, limit: int = 500
    ) -> builtins.list[tuple[int, HistoryEntry]]:
        """Every warning's history after sequence number ``seq``, in order, with each entry's
        number (what a live feed of the ledger resumes from)."""
        h = self.tables.history
        q = select(h).where(h.c.seq > seq).order_by(h.c.seq).limit(limit)
        with self.engine.connect() as conn:
            return [(int(r.seq), _entry(r)) for r in conn.execute(q)]

    def last_seq(self) -> int:
        """The number of the latest history entry (0 when there is none)."""
        h = self.tables.history
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.max(h.c.seq))).scalar() or 0)

    # -- internals ---------------------------------------------------------------------------

    def _insert(self, conn: Connection, plan: WarningPlan, now: datetime) -> str:
        wid = str(uuid.uuid4())
        conn.execute(
            insert(self.tables.warnings).values(
                id=wid, domain=plan.domain, area_id=plan.area_id, level=int(plan.level),
                peak_level=int(plan.level), status="open", opened_at=now, updated_at=now,
                ack_note="", resolve_note="", reopened=0, tier=0, level_at=now, notified_at=now,
                message_zh=plan.message_zh,
                message_en=plan.message_en, details=json.dumps(plan.details, ensure_ascii=False),
            )
        )  # fmt: skip
        return wid

    def _update(self, conn: Connection, plan: WarningPlan, now: datetime) -> None:
        assert plan.warning_id is not None
        old = self._get(conn, plan.warning_id)
        values: dict[str, Any] = {
            "updated_at": now,
            "details": json.dumps(plan.details, ensure_ascii=False),
        }
        if plan.action in ("escalated", "deescalated", "reopened"):
            if old.status == "closed" and plan.action != "reopened":
                raise DataError(f"warning {old.id} is closed", column="status")
            up = plan.action in ("escalated", "reopened")
            values |= {
                "level": int(plan.level),
                "peak_level": int(max(plan.level, old.peak_level)),
                "status": "open" if up else old.status,
                "message_zh": plan.message_zh,
                "message_en": plan.message_en,
            }
            if up:  # a fresh acknowledgement is due: the escalation ladder counts from now
                values["level_at"] = now
            if plan.action == "reopened":
                values |= {"closed_at": None, "reopened": old.reopened + 1, "acked_at": None,
                           "acked_by": None, "ack_note": "", "resolved_by": None,
                           "resolve_note": "", "tier": 0}  # fmt: skip
        elif plan.action == "closed":
            self._live(conn, old.id)
            values |= {"status": "closed", "closed_at": now, "message_zh": plan.message_zh,
                       "message_en": plan.message_en}  # fmt: skip
        elif plan.action is not None:
            raise DataError(f"the engine cannot {plan.action} a warning", column="action")
        conn.execute(update(self.tables.warnings).filter_by(id=old.id).values(**values))

    def _tell(
        self,
        conn: Connection,
        warning: Warning,
        action: Action,
        before: Level,
        after: Level,
        now: datetime,
        channels: Sequence[str],
        *,
        actor: str | None = None,
        note: str = "",
        extra: dict[str, Any] | None = None,
    ) -> Silence | None:
        """The history row of a change and, for a change officers are told of, its outbox row
        per channel, unless a silence holds them back (returned, and marked in the history)."""
        extra = extra or {}
        silence = None
        if action in NOTIFIED:
            ids = [t.series_id for t in warning.active] or [t.series_id for t in warning.targets]
            silence = self._silencing(conn, warning.domain, warning.area_id, ids, now)
        self._history(conn, warning.id, now, action, before, after, actor=actor, note=note,
                      silenced_by=silence.id if silence else None)  # fmt: skip
        if action in NOTIFIED and silence is None and channels:
            for channel in channels:
                self._enqueue(conn, warning.id, channel, warning.payload(action, **extra), now)
            stamp = update(self.tables.warnings).filter_by(id=warning.id)
            conn.execute(stamp.values(notified_at=now))
        return silence

    def _history(
        self,
        conn: Connection,
        warning_id: str,
        now: datetime,
        action: Action,
        from_level: Level,
        to_level: Level,
        series_id: str | None = None,
        *,
        actor: str | None = None,
        note: str = "",
        silenced_by: str | None = None,
    ) -> None:
        conn.execute(
            insert(self.tables.history).values(
                warning_id=warning_id, ts=now, action=action, from_level=int(from_level),
                to_level=int(to_level), series_id=series_id, actor=actor, note=note,
                silenced_by=silenced_by,
            )
        )  # fmt: skip

    def _targets(
        self, conn: Connection, warning_ids: builtins.list[str]
    ) -> dict[str, tuple[TargetState, ...]]:
        if not warning_ids:
            return {}
        t = self.tables.targets
        q = select(t).where(t.c.warning_id.in_(warning_ids)).order_by(t.c.series_id)
        out: dict[str, builtins.list[TargetState]] = {}
        for r in conn.execute(q).mappings():
            out.setdefault(r["warning_id"], []).append(TargetState.from_row(r))
        return {k: tuple(v) for k, v in out.items()}

    def _get(self, conn: Connection, warning_id: str) -> Warning:
        row = conn.execute(select(self.tables.warnings).filter_by(id=warning_id)).mappings()
        found = row.first()
        if found is None:
            raise NotFoundError(f"no warning {warning_id!r}")
        return Warning.from_row(found, self._targets(conn, [warning_id]).get(warning_id, ()))

    def _live(self, conn: Connection, warning_id: str) -> Warning:
        warning = self._get(conn, warning_id)
        if warning.status == "closed":
            raise DataError(f"warning {warning_id} is closed", column="status")
        return warning

    def _latest(
        self, conn: Connection, domain: str, area_id: str, *, closed: bool
    ) -> Warning | None:
        w = self.tables.warnings
        which = w.c.status == "closed" if closed else w.c.status != "closed"
        order = w.c.closed_at.desc() if closed else w.c.opened_at.desc()
        q = select(w.c.id).where(w.c.domain == domain, w.c.area_id == area_id, which)
        found = conn.execute(q.order_by(order).limit(1)).scalar()
        return None if found is None else self._get(conn, found)


def _target_row(target: TargetState) -> dict[str, Any]:
    return {
        "series_id": target.series_id,
        "level": int(target.level),
        "level_since": target.level_since,
        "label": target.label,
        "peak_value": target.peak_value,
        "peak_ts": target.peak_ts,
        "probability": target.probability,
        "threshold": target.threshold,
        "joined_at": target.joined_at,
        "left_at": target.left_at,
    }


def _escalation_texts(warning: Warning, action: str, tier: str, now: datetime) -> dict[str, str]:
    """A page's or re-send's own texts: the tier it reaches and how long nobody acknowledged,
    before the warning's text (sent only; the warning's stored text is unchanged)."""
    minutes = int((now - warning.level_at).total_seconds() // 60)
    texts: tuple[tuple[Lang, str], ...] = (("zh", warning.message_zh), ("en", warning.message_en))
    return {
        f"message_{lang}": render_escalation(
            text, action=action, tier=tier, minutes=minutes, lang=lang
        )
        for lang, text in texts
    }


def _entry(r: Any) -> HistoryEntry:
    """A history row as its record."""
    return HistoryEntry(
        r.warning_id,
        r.ts,
        r.action,
        Level(r.from_level),
        Level(r.to_level),
        r.series_id,
        r.actor,
        r.note or "",
        r.silenced_by,
    )
