"""The service's clock: the time of the data, running on with the wall between arrivals.

Warnings are about the water's time: a level is held 30 minutes of the storm, not 30 minutes
of the server, and the backtest replays the engine at each forecast's origin. The service does
the same: its ``now`` is the latest forecast origin it has scored, advanced by the wall-clock
time since that origin was first seen, so escalation still runs on when the feed goes quiet.
In production the two clocks agree to within one grid step and the feed's latency; in a replay
(the demo, a drill, a backfilled storm) the warnings open, hold, close and escalate in the
storm's own time, as the backtest judged them. Once it has seen data it never runs backwards.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime


class ServiceClock:
    """``now()``: the latest origin seen plus the wall time since; the wall clock before any."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._origin: datetime | None = None
        self._seen_at: datetime | None = None
        self._last: datetime | None = None

    def observe(self, origin: datetime) -> None:
        """A forecast origin was scored: the clock moves to it if it is the latest."""
        with self._lock:
            if self._origin is None or origin > self._origin:
                self._origin, self._seen_at = origin, datetime.now(UTC)

    @property
    def origin(self) -> datetime | None:
        """The latest origin seen; None before any."""
        with self._lock:
            return self._origin

    def now(self) -> datetime:
        with self._lock:
            wall = datetime.now(UTC)
            if self._origin is None or self._seen_at is None:
                return wall  # no data yet: the first origin sets the clock, even back
            current = self._origin + (wall - self._seen_at)
            if self._last is not None and current < self._last:
                current = self._last
            self._last = current
            return current
