"""Warnings: levels with hysteresis, grouping, lifecycle, the ledger, silences and delivery.

``alerts`` depends on nothing above the error classes of ``features``: the serving layer (and
the backtest) turn forecasts into :class:`Assessment` records, :class:`WarningEngine` groups
them into one warning per domain, area and episode and records each change in the
:class:`Ledger` with its history and outbox, :class:`Silence` records hold delivery back, and
an :class:`Escalator` pages the next tier of a :class:`Roster` when nobody acknowledges in
time, and a :class:`Dispatcher` delivers the outbox through the channels of the channels file
(:func:`load_channels`), retrying on a :class:`RetryPolicy` and signing webhooks
(:mod:`alerts.signing`: :func:`verify_signature` is what a receiver runs).
"""

from alerts.ack_links import AckGrant, AckLinkError, AckLinks
from alerts.assessment import Assessment
from alerts.cap import CAP_NS, CapArea, cap_alert, cap_messages
from alerts.channel_config import ChannelsFile, load_channels, parse_channels
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
from alerts.mail import EmailChannel
from alerts.messages import render
from alerts.mqtt import MqttChannel, topic_of
from alerts.outbox import OUTBOX_STATUSES
from alerts.records import Action, HistoryEntry, OutboxItem, Status, TargetState, Warning
from alerts.retry import RetryPolicy
from alerts.robots import DingTalkChannel, WeComChannel, dingtalk_sign
from alerts.roster import Contact, Roster, Tier, load_roster, parse_roster
from alerts.signing import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureError,
    signature,
)
from alerts.signing import verify as verify_signature
from alerts.silences import Silence
from alerts.sms import SmsChannel

__all__ = [
    "CAP_NS",
    "CAUSES",
    "IDEMPOTENCY_HEADER",
    "OUTBOX_STATUSES",
    "PONDING_CM",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "AckGrant",
    "AckLinkError",
    "AckLinks",
    "Action",
    "Assessment",
    "CapArea",
    "Channel",
    "ChannelsFile",
    "Contact",
    "DeliveryError",
    "DingTalkChannel",
    "DispatchResult",
    "Dispatcher",
    "EmailChannel",
    "Escalator",
    "HistoryEntry",
    "Ledger",
    "Level",
    "LevelRule",
    "MqttChannel",
    "OutboxItem",
    "PlannedChange",
    "RetryPolicy",
    "Roster",
    "SignatureError",
    "Silence",
    "SmsChannel",
    "Status",
    "TargetState",
    "Tier",
    "Warning",
    "WarningChange",
    "WarningEngine",
    "WarningPlan",
    "WeComChannel",
    "WebhookChannel",
    "cap_alert",
    "cap_messages",
    "dingtalk_sign",
    "grade",
    "load_channels",
    "load_roster",
    "next_level",
    "parse_channels",
    "parse_roster",
    "render",
    "signature",
    "topic_of",
    "verify_signature",
]
