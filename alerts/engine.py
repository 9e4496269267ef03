"""The warning engine: turns each scoring's assessments into warning lifecycle changes.

The serving layer calls :meth:`WarningEngine.evaluate` every time it rescores. The engine keeps
no state of its own: the ledger's open warning for a target is its current level, so several
server replicas sharing one database agree, and a restart forgets nothing. A level that did not
change writes nothing, so evaluating the same assessments twice is harmless.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from alerts.assessment import Assessment, to_utc
from alerts.ledger import Ledger
from alerts.levels import Level, next_level
from alerts.messages import render
from alerts.records import Action, Warning
from features import DataError


@dataclass(frozen=True)
class WarningChange:
    """One lifecycle step made by an evaluation; ``to_level`` is NONE when a warning closed."""

    warning: Warning
    action: Action
    from_level: Level
    to_level: Level

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for the server-sent event stream."""
        return {
            "action": self.action,
            "from_level": self.from_level.colour,
            "to_level": self.to_level.colour,
            "warning": self.warning.to_dict(),
        }


class WarningEngine:
    """Grades assessments with hysteresis and records opens, level changes and closes.

    Args:
        ledger: where warnings live; the current level of a target is read from it.
        channels: outbox channel names each change is queued for; pass ``()`` when no channel is
            configured, or the rows would wait for a channel that never comes.
    """

    def __init__(self, ledger: Ledger, *, channels: Sequence[str] = ("webhook",)) -> None:
        self.ledger = ledger
        self.channels = tuple(channels)

    def evaluate(self, assessments: Iterable[Assessment], now: datetime) -> list[WarningChange]:
        """Apply one scoring. Every input is checked before anything is written."""
        now = to_utc(now, "now")
        batch = list(assessments)
        for i, a in enumerate(batch):
            if not isinstance(a, Assessment):
                raise DataError(f"expected an Assessment, got {type(a).__name__}", row=i)
        changes = []
        for a in batch:
            change = self._apply(a, now)
            if change is not None:
                changes.append(change)
        return changes

    def _apply(self, a: Assessment, now: datetime) -> WarningChange | None:
        current = self.ledger.current(a.domain, a.series_id)
        old = current.level if current is not None else Level.NONE
        new = next_level(old, a.probabilities, a.rule)
        if new == old:
            return None
        action: Action
        if current is None:
            action = "opened"
        elif new == Level.NONE:
            action = "closed"
        else:
            action = "escalated" if new > old else "deescalated"
        texts = {
            f"message_{lang}": render(a, new, action=action, previous=old, lang=lang)
            for lang in ("zh", "en")
        }
        common: dict[str, Any] = {
            "now": now,
            "details": _details(a, new),
            "channels": self.channels,
            **texts,
        }
        if current is None:
            warning = self.ledger.open_warning(
                domain=a.domain, series_id=a.series_id, area_id=a.area_id, level=new, **common
            )
        elif action == "closed":
            warning = self.ledger.close_warning(current.id, **common)
        else:
            warning = self.ledger.change_level(current.id, level=new, **common)
        return WarningChange(warning, action, old, new)


def _details(a: Assessment, level: Level) -> dict[str, Any]:
    """What the warning record keeps of the assessment that last changed it."""
    return {
        "label": a.label,
        "unit": a.unit,
        "origin": a.origin.isoformat(),
        "peak_value": a.peak_value,
        "peak_ts": a.peak_ts.isoformat(),
        "observed": a.observed,
        "probabilities": {lv.colour: a.probability_of(lv) for lv in a.rule.levels},
        "threshold": a.rule.thresholds.get(level),
        "direction": a.rule.direction,
        "probability_needed": a.rule.probability,
    }
