"""Escalation: an unacknowledged warning is sent again, then to the next tier of its roster.

PagerDuty's escalation policy for a city's duty room: the duty officer is told at once; nobody
acknowledges within the next tier's ``after`` (counted from when the warning reached its level)
and the shift leader is paged, then the director; meanwhile the warning is sent again to the
tiers told so far every ``renotify`` interval of its level. Acknowledging or resolving stops it.
Like the engine, the escalator keeps no state of its own: the ledger's tier and times are it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from alerts.assessment import to_utc
from alerts.ledger import Ledger
from alerts.records import Warning
from alerts.roster import Roster, Tier


def tier_channels(tiers: Sequence[Tier], upto: int) -> tuple[str, ...]:
    """The channels of tiers ``0..upto``: everyone told so far."""
    return tuple(dict.fromkeys(c for tier in tiers[: upto + 1] for c in tier.channels))


class Escalator:
    """Pages and re-sends unacknowledged warnings along the roster's tiers."""

    def __init__(self, ledger: Ledger, roster: Roster) -> None:
        self.ledger = ledger
        self.roster = roster

    def escalate_due(self, now: datetime) -> list[Warning]:
        """One pass: page the next tier or re-send, for every open warning that is due; returns
        the warnings that changed."""
        now = to_utc(now, "now")
        changed = []
        for warning in self.ledger.list(status="open", limit=100_000):
            tiers = self.roster.tiers(warning.domain, warning.area_id)
            if not tiers:
                continue
            nxt = warning.tier + 1
            if nxt < len(tiers) and now - warning.level_at >= tiers[nxt].after:
                tier = tiers[nxt]
                contacts = [c.name for c in tier.contacts]
                changed.append(
                    self.ledger.page(
                        warning.id,
                        tier=nxt,
                        name=tier.name,
                        contacts=contacts,
                        now=now,
                        channels=tier.channels,
                    )
                )
                continue
            every = self.roster.renotify_after(warning.level)
            if every is not None and now - warning.notified_at >= every:
                changed.append(
                    self.ledger.renotify(
                        warning.id,
                        name=tiers[min(warning.tier, len(tiers) - 1)].name,
                        now=now,
                        channels=tier_channels(tiers, warning.tier),
                    )
                )
        return changed
