"""Serving: the composition root, the FastAPI app, online scoring and the command line.

``serving`` is the top of the import graph: it loads the champions ``training`` registered,
keeps each task's recent data in memory (:class:`OnlineState`), rescores as live data arrives
(:class:`TaskScorer`, the same feature pipeline as training), hands the forecasts to ``alerts``
as assessments on its :class:`ServiceClock` (the data's time), and answers HTTP
(:func:`create_app`) to callers with an API key (:class:`KeyStore`, the ``HEADER`` it travels
in), delivering warnings to the channels of :func:`build_channels`. :func:`main` is the
``citybrain`` command line, mounting every package's commands. Import from here, not from the
modules.
"""

from serving.app import create_app
from serving.auth import HEADER, Guard, RateLimitedError
from serving.cli import main
from serving.clock import ServiceClock
from serving.keys import ROLES, ApiKey, KeyStore
from serving.online import MARGIN, OnlineState, online_window
from serving.receiver import WebhookReceiver
from serving.runtime import build_channels
from serving.scoring import Snapshot, TaskScorer
from serving.settings import Settings

__all__ = [
    "HEADER",
    "MARGIN",
    "ROLES",
    "ApiKey",
    "Guard",
    "KeyStore",
    "OnlineState",
    "RateLimitedError",
    "ServiceClock",
    "Settings",
    "Snapshot",
    "TaskScorer",
    "WebhookReceiver",
    "build_channels",
    "create_app",
    "main",
    "online_window",
]
