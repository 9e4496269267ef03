"""Warnings: levels with hysteresis, lifecycle, the ledger and outbox, and delivery channels.

``alerts`` depends on nothing above ``features.errors``: the serving layer turns forecasts into
:class:`Assessment` records, :class:`WarningEngine` turns those into warning changes in the
:class:`Ledger`, and a :class:`Dispatcher` delivers the outbox through the channels.
"""

from alerts.assessment import Assessment
from alerts.channels import (
    Channel,
    DeliveryError,
    Dispatcher,
    DispatchResult,
    WebhookChannel,
)
from alerts.engine import WarningChange, WarningEngine
from alerts.ledger import Ledger
from alerts.levels import PONDING_CM, Level, LevelRule, grade, next_level
from alerts.messages import render
from alerts.records import HistoryEntry, OutboxItem, Warning

__all__ = [
    "PONDING_CM",
    "Assessment",
    "Channel",
    "DeliveryError",
    "DispatchResult",
    "Dispatcher",
    "HistoryEntry",
    "Ledger",
    "Level",
    "LevelRule",
    "OutboxItem",
    "Warning",
    "WarningChange",
    "WarningEngine",
    "WebhookChannel",
    "grade",
    "next_level",
    "render",
]
