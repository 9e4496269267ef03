"""The warning engine: turns each scoring's assessments into grouped warning changes.

One warning per domain, area and episode: a storm over a district is one warning with its
twelve sensors, not twelve warnings. Each target keeps its own level, moved by its own rule with
hysteresis (a level drops only once its probability is clearly below the rule's) and a hold
time (and only after it has been held that long); the warning's level is its worst target's.
Targets join the warning when they reach a level and leave it when they fall back. When the
last target leaves, the warning closes; if the area's trouble comes back within the rule's
quiet period, the same warning is reopened (the same episode; the backtest counts these flaps).
A traffic or hotline warning in an area with an open waterlogging or river warning names that
warning as its likely cause.

The engine keeps no state of its own: the ledger's open warning for a domain and area, with its
targets, is the current state, so several server replicas sharing one database agree, and a
restart forgets nothing. A scoring that changes no level writes nothing, so evaluating the same
assessments twice is harmless.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from alerts.assessment import Assessment, to_utc
from alerts.escalation import tier_channels
from alerts.ledger import Ledger, WarningPlan
from alerts.levels import Level, grade, next_level
from alerts.messages import CITY_TZ, Cause, render
from alerts.records import Action, TargetState, Warning
from alerts.roster import Roster
from features import DataError

CAUSES: Mapping[str, tuple[str, ...]] = {
    "traffic": ("waterlogging", "rivers"),
    "hotline": ("waterlogging", "rivers"),
}
"""Which domains' open warnings in an area are the likely cause of a warning of another."""

NO_AREA = "-"
"""The area of targets the catalog places in none."""


@dataclass(frozen=True)
class WarningChange:
    """One lifecycle step made by an evaluation; ``to_level`` is NONE when a warning closed;
    ``silenced_by`` the silence that held its message back."""

    warning: Warning
    action: Action
    from_level: Level
    to_level: Level
    silenced_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for the server-sent event stream."""
        return {
            "action": self.action,
            "from_level": self.from_level.colour,
            "to_level": self.to_level.colour,
            "silenced_by": self.silenced_by,
            "warning": self.warning.to_dict(),
        }


@dataclass(frozen=True)
class PlannedChange:
    """A lifecycle step an evaluation would make, not recorded (``WarningEngine.preview``)."""

    domain: str
    area_id: str
    warning_id: str | None
    action: Action
    from_level: Level
    to_level: Level
    targets: int
    message_zh: str
    message_en: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "area_id": self.area_id,
            "warning_id": self.warning_id,
            "action": self.action,
            "from_level": self.from_level.colour,
            "to_level": self.to_level.colour,
            "targets": self.targets,
            "message_zh": self.message_zh,
            "message_en": self.message_en,
        }


class WarningEngine:
    """Groups assessments by domain and area, grades each target with hysteresis and hold, and
    records opens, level changes, closes and reopens in the ledger.

    Args:
        ledger: where warnings live; the current state of a domain and area is read from it.
        channels: outbox channel names each announced change is queued for; pass ``()`` when no
            channel is configured, or the rows would wait for a channel that never comes.
        causes: per domain, the domains whose open warnings in the same area are named as the
            likely cause.
    """

    def __init__(
        self,
        ledger: Ledger,
        *,
        channels: Sequence[str] = ("webhook",),
        causes: Mapping[str, tuple[str, ...]] = CAUSES,
        roster: Roster | None = None,
    ) -> None:
        self.ledger = ledger
        self.channels = tuple(channels)
        self.causes = dict(causes)
        self.roster = roster
        # messages tell times on the roster's clock (the city's by default)
        self.timezone = roster.timezone if roster is not None else CITY_TZ

    def channels_for(self, domain: str, area: str, tier: int = 0) -> tuple[str, ...]:
        """Who hears of a warning's changes: the roster's tiers told so far where a roster
        covers its domain and area, else every configured channel."""
        tiers = self.roster.tiers(domain, area) if self.roster is not None else ()
        return tier_channels(tiers, tier) if tiers else self.channels

    def evaluate(self, assessments: Iterable[Assessment], now: datetime) -> list[WarningChange]:
        """Apply one scoring. Every input is checked before anything is written; the domains
        that cause others are evaluated first, so a warning opened in this pass is named."""
        now = to_utc(now, "now")
        changes = []
        for domain, area, batch in self._groups(assessments):
            change = self._group(domain, area, batch, now)
            if change is not None:
                changes.append(change)
        return changes

    def preview(self, assessments: Iterable[Assessment], now: datetime) -> list[PlannedChange]:
        """What :meth:`evaluate` would change, written nowhere: for a batch held for review
        when it would change too much, and for what-if scenarios. Opens, reopens, level
        changes and closes, and ``joined`` where targets join a warning whose level stays. A
        cause that the same pass would open is not named (the ledger does not hold it yet)."""
        now = to_utc(now, "now")
        planned = []
        for domain, area, batch in self._groups(assessments):
            found = self._plan(domain, area, batch, now)
            if found is None:
                continue
            plan, before, _ = found
            # a warning whose level stays but that more targets join is a change to show too
            action = plan.action or ("joined" if plan.joined else None)
            if action is None:
                continue
            planned.append(
                PlannedChange(
                    domain=domain,
                    area_id=area,
                    warning_id=plan.warning_id,
                    action=action,
                    from_level=before,
                    to_level=Level.NONE if plan.action == "closed" else plan.level,
                    targets=sum(1 for t in plan.targets if t.level > Level.NONE),
                    message_zh=plan.message_zh,
                    message_en=plan.message_en,
                )
            )
        return planned

    def _groups(
        self, assessments: Iterable[Assessment]
    ) -> Iterator[tuple[str, str, list[Assessment]]]:
        """The assessments by domain and area, causing domains first, checked before any is
        yielded; an area with nothing open where nothing rises is skipped without reading its
        warnings (most areas on most passes)."""
        batch = list(assessments)
        for i, a in enumerate(batch):
            if not isinstance(a, Assessment):
                raise DataError(f"expected an Assessment, got {type(a).__name__}", row=i)
        groups: dict[tuple[str, str], list[Assessment]] = defaultdict(list)
        for a in batch:
            groups[(a.domain, a.area_id or NO_AREA)].append(a)
        causing = {d for ds in self.causes.values() for d in ds}
        open_now = self.ledger.open_areas()
        for domain, area in sorted(groups, key=lambda k: (k[0] not in causing, k)):
            members = groups[(domain, area)]
            if (domain, area) not in open_now and all(
                grade(a.probabilities, a.rule) == Level.NONE for a in members
            ):
                continue
            yield domain, area, members

    def _group(
        self, domain: str, area: str, batch: list[Assessment], now: datetime
    ) -> WarningChange | None:
        found = self._plan(domain, area, batch, now)
        if found is None:
            return None
        plan, before, base = found
        action = plan.action
        tier = base.tier if base is not None and action != "reopened" else 0
        channels = self.channels_for(domain, area, tier)
        warning, silence = self.ledger.save(plan, now=now, channels=channels)
        if action is None:
            return None
        to_level = Level.NONE if action == "closed" else plan.level
        return WarningChange(warning, action, before, to_level, silence.id if silence else None)

    def _plan(
        self, domain: str, area: str, batch: list[Assessment], now: datetime
    ) -> tuple[WarningPlan, Level, Warning | None] | None:
        """The change one scoring makes to a domain and area (None: nothing to record), the
        warning's level before it, and the warning it continues."""
        current = self.ledger.current(domain, area)
        closed = None if current is not None else self.ledger.last_closed(domain, area)
        quiet = max(a.rule.quiet for a in batch)
        recent = closed if closed and closed.closed_at and now - closed.closed_at < quiet else None
        base = current or recent
        members = {t.series_id: t for t in base.targets} if base else {}
        states = dict(members)
        for a in batch:
            states[a.series_id] = _target(a, members.get(a.series_id), now)
        level = max((s.level for s in states.values()), default=Level.NONE)

        action: Action | None
        before = current.level if current else Level.NONE
        if current is None:
            if level == Level.NONE:
                return None
            if recent is not None and recent.resolved_by and level <= recent.level:
                return None  # a person lifted it: only worse trouble brings it back this soon
            action = "reopened" if recent is not None else "opened"
        elif level == Level.NONE:
            action = "closed"
        elif level != current.level:
            action = "escalated" if level > current.level else "deescalated"
        else:
            action = None
        on = {s for s, t in states.items() if t.level > Level.NONE}
        was = {s for s, t in members.items() if t.level > Level.NONE and t.left_at is None}
        if base is None:
            states = {s: t for s, t in states.items() if s in on}
        # the lifecycle action covers the targets that open, reopen or close a warning
        joined = () if action in ("opened", "reopened") else tuple(sorted(on - was))
        left = () if action == "closed" else tuple(sorted(was - on))
        moved = any(states[s].level != members[s].level for s in on & was)
        if action is None and not joined and not left and not moved:
            return None

        by_series = {a.series_id: a for a in batch}
        worst = _worst(states.values(), by_series) or _worst(members.values(), by_series)
        subject = by_series.get(worst.series_id) if worst else None
        subject = subject or max(batch, key=lambda a: max(a.probabilities.values(), default=0.0))
        cause_warning = self._cause_warning(domain, area)
        cause = Cause(cause_warning.domain, cause_warning.level) if cause_warning else None
        others = max(len(on) - 1, 0)
        texts = {
            lang: render(
                subject,
                level,
                action=action or "opened",
                previous=before,
                lang=lang,
                others=others,
                cause=cause,
                tz=self.timezone,
            )
            for lang in ("zh", "en")
        }
        plan = WarningPlan(
            domain=domain,
            area_id=area,
            warning_id=(base.id if base else None),
            action=action,
            level=level if level > Level.NONE else before,
            targets=tuple(sorted(states.values(), key=lambda t: t.series_id)),
            joined=joined,
            left=left,
            message_zh=texts["zh"],
            message_en=texts["en"],
            details=_details(subject, level, len(on), cause_warning),
        )
        return plan, before, base

    def _cause_warning(self, domain: str, area: str) -> Warning | None:
        for other in self.causes.get(domain, ()):
            found = self.ledger.current(other, area)
            if found is not None:
                return found
        return None


def _target(a: Assessment, member: TargetState | None, now: datetime) -> TargetState:
    """The target's new state: its level moved by its rule with hysteresis, then held."""
    old = member.level if member is not None and member.left_at is None else Level.NONE
    new = next_level(old, a.probabilities, a.rule)
    since = member.level_since if member is not None else now
    if new < old and now - since < a.rule.hold:
        new = old  # a level is held at least this long before it drops
    shown = new if new > Level.NONE else a.rule.levels[0]
    left_at = None
    if new == Level.NONE and member is not None:
        left_at = member.left_at or (now if member.level > Level.NONE else None)
    return TargetState(
        series_id=a.series_id,
        level=new,
        level_since=since if new == old else now,
        probability=a.probability_of(shown),
        joined_at=member.joined_at if member is not None else now,
        label=a.label,
        peak_value=a.peak_value,
        peak_ts=a.peak_ts,
        threshold=a.rule.thresholds.get(shown),
        left_at=left_at,
    )


def _worst(states: Iterable[TargetState], assessed: Mapping[str, Assessment]) -> TargetState | None:
    """The most severe target at a level, the likeliest among equals (assessed ones first)."""
    on = [s for s in states if s.level > Level.NONE]
    return max(
        on,
        key=lambda s: (s.level, s.series_id in assessed, s.probability, s.series_id),
        default=None,
    )


def _details(a: Assessment, level: Level, at_level: int, cause: Warning | None) -> dict[str, Any]:
    """What the warning record keeps of its worst target's assessment."""
    return {
        "series_id": a.series_id,
        "label": a.label,
        "label_en": a.label_en,
        "unit": a.unit,
        "origin": a.origin.isoformat(),
        "peak_value": a.peak_value,
        "peak_ts": a.peak_ts.isoformat(),
        "observed": a.observed,
        "probabilities": {lv.colour: a.probability_of(lv) for lv in a.rule.levels},
        "threshold": a.rule.thresholds.get(level),
        "level_ts": a.time_of(level).isoformat() if level in a.rule.thresholds else None,
        "high_value": a.high_value,
        "action_zh": a.rule.actions[level][0] if level in a.rule.actions else None,
        "action_en": a.rule.actions[level][1] if level in a.rule.actions else None,
        "direction": a.rule.direction,
        "probability_needed": a.rule.probability,
        "targets_at_level": at_level,
        "cause": (
            {"id": cause.id, "domain": cause.domain, "level": cause.level.colour}
            if cause is not None
            else None
        ),
    }
