"""Warnings: levels with hysteresis, grouping, lifecycle, the ledger, silences and delivery.

``alerts`` depends on nothing above the error classes of ``features``: the serving layer (and
the backtest) turn forecasts into :class:`Assessment` records, :class:`WarningEngine` groups
them into one warning per domain, area and episode and records each change in the
:class:`Ledger` with its history and outbox, :class:`Silence` records hold delivery back, and
an :class:`Escalator` pages the next tier of a :class:`Roster` when nobody acknowledges in
time, and a :class:`Dispatcher` delivers the outbox through the channels.
"""

from alerts.assessment import Assessment
from alerts.channels import (
    Channel,
    DeliveryError,
    Dispatcher,
    DispatchResult,
    WebhookChannel,
)
from alerts.engine import CAUSES, PlannedChange, WarningChange, WarningEngine
from alerts.escalation import Escalator
from alerts.ledger import Ledger, WarningPlan
from alerts.levels import PONDING_CM, Level, LevelRule, grade, next_level
from alerts.messages import render
from alerts.records import Action, HistoryEntry, OutboxItem, Status, TargetState, Warning
from alerts.roster import Contact, Roster, Tier, load_roster, parse_roster
from alerts.silences import Silence

__all__ = [
    "CAUSES",
    "PONDING_CM",
    "Action",
    "Assessment",
    "Channel",
    "Contact",
    "DeliveryError",
    "DispatchResult",
    "Dispatcher",
    "Escalator",
    "HistoryEntry",
    "Ledger",
    "Level",
    "LevelRule",
    "OutboxItem",
    "PlannedChange",
    "Roster",
    "Silence",
    "Status",
    "TargetState",
    "Tier",
    "Warning",
    "WarningChange",
    "WarningEngine",
    "WarningPlan",
    "WebhookChannel",
    "grade",
    "load_roster",
    "next_level",
    "parse_roster",
    "render",
]
