"""The live feed of warning changes: the ledger's history, in order, as server-sent events.

One thread per server reads the ledger's history after the last entry it has seen (every
``poll_s``, and at once after a rescoring) and keeps the latest few thousand entries in memory;
each ``GET /v1/warnings/stream`` client is served from there, and a client resuming with
``Last-Event-ID`` older than memory from the ledger itself. Reading the ledger, not the engine,
means every replica's stream carries every change, whichever replica made it.

Entries are published in the order of their sequence numbers, so an event id is a position a
client can resume from exactly. On PostgreSQL a transaction can take a number and commit after
a later one; the feed then holds the later entries back until the earlier one appears, or for
at most ``gap_s`` (a number never committed belongs to a rolled-back transaction).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass

import orjson

from alerts import HistoryEntry, Ledger

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeedEvent:
    """One history entry as the stream sends it: ``data`` is its JSON (the entry and the
    warning as it stands now)."""

    seq: int
    action: str
    domain: str
    data: str


class WarningFeed:
    """The ledger's history after the moment the server started, in order, in memory."""

    def __init__(
        self, ledger: Ledger, *, poll_s: float = 0.5, gap_s: float = 5.0, keep: int = 5000
    ) -> None:
        self._ledger = ledger
        self.poll_s, self._gap_s = poll_s, gap_s
        self._events: deque[FeedEvent] = deque(maxlen=keep)
        self._cursor = ledger.last_seq()
        self._gap_since: float | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def cursor(self) -> int:
        """The sequence number of the latest entry published."""
        return self._cursor

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="warning-feed", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def wake(self) -> None:
        """Read the ledger now (the warnings just changed)."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll()
            except Exception:
                log.exception("reading the ledger's history for the stream failed")
            self._wake.wait(self.poll_s)
            self._wake.clear()

    def poll(self) -> int:
        """Publish the entries after the cursor that are in order; how many."""
        rows = self._ledger.changes_since(self._cursor)
        fresh: list[tuple[int, HistoryEntry]] = []
        expected = self._cursor + 1
        for seq, entry in rows:
            if seq != expected:  # an earlier number not committed yet, or never
                now = time.monotonic()
                self._gap_since = self._gap_since or now
                if now - self._gap_since < self._gap_s:
                    break
            self._gap_since = None
            fresh.append((seq, entry))
            expected = seq + 1
        if not fresh:
            return 0
        events = self._events_of(fresh)
        with self._lock:
            self._events.extend(events)
            self._cursor = fresh[-1][0]
        return len(events)

    def after(self, seq: int, domain: str | None = None) -> tuple[list[FeedEvent], int] | None:
        """The published events after ``seq`` (of ``domain``), and the position they reach;
        None when memory no longer holds all of them (:meth:`backlog` reads the ledger)."""
        with self._lock:
            cursor = self._cursor
            if seq >= cursor:
                return [], cursor
            if not self._events or self._events[0].seq > seq + 1:
                return None
            found = [e for e in self._events if e.seq > seq]
        return [e for e in found if domain is None or e.domain == domain], cursor

    def backlog(self, seq: int, domain: str | None = None) -> tuple[list[FeedEvent], int]:
        """The events after ``seq`` up to the cursor, read from the ledger (a client resuming
        from further back than memory holds)."""
        cursor = self._cursor
        out: list[FeedEvent] = []
        while seq < cursor:
            rows = [(s, e) for s, e in self._ledger.changes_since(seq) if s <= cursor]
            if not rows:
                break
            out += [e for e in self._events_of(rows) if domain is None or e.domain == domain]
            seq = rows[-1][0]
        return out, cursor

    def _events_of(self, rows: list[tuple[int, HistoryEntry]]) -> list[FeedEvent]:
        warnings = {wid: self._ledger.get(wid) for wid in {e.warning_id for _, e in rows}}
        out = []
        for seq, entry in rows:
            warning = warnings[entry.warning_id]
            body = {"seq": seq, **entry.to_dict(), "warning": warning.to_dict()}
            out.append(FeedEvent(seq, entry.action, warning.domain, orjson.dumps(body).decode()))
        return out
