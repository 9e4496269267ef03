"""The running service's lifecycle: its components, built once in the app's lifespan.

:class:`Runtime` builds the store, the warning ledger and engine, the served champions
(:class:`Scorers`) and live ingest (:class:`Ingest`), loads the champions and runs the
dispatcher thread that escalates unacknowledged warnings along the duty roster (where one is
configured) and delivers the ledger's outbox to the configured channels. Routes never
reach through it: each depends on the one component it uses (``serving.deps``).
"""

from __future__ import annotations

import logging
import threading

from alerts import Dispatcher, Escalator, Ledger, WarningEngine, WebhookChannel, load_roster
from features import ConfigError, Store
from serving.ingest import Ingest
from serving.scorers import Scorers
from serving.settings import Settings

log = logging.getLogger(__name__)


class Runtime:
    """Builds the components; :meth:`start` loads and scores, :meth:`stop` releases."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = Store(settings.data_dir)
        self.ledger = Ledger(settings.ledger)
        channels = {
            ("webhook" if i == 0 else f"webhook-{i + 1}"): WebhookChannel(
                url,
                max_attempts=settings.webhook_max_attempts,
                backoff_s=settings.webhook_backoff_s,
            )
            for i, url in enumerate(settings.webhooks)
        }
        self.dispatcher = Dispatcher(self.ledger, channels)
        self._stop = threading.Event()
        self._kick = threading.Event()
        self._thread: threading.Thread | None = None
        roster = load_roster(settings.roster) if settings.roster is not None else None
        if roster is not None:
            unknown = sorted(roster.channels() - set(channels))
            if unknown:
                raise ConfigError(
                    f"the roster {settings.roster} names channels {unknown} that are not "
                    f"configured (configured: {sorted(channels) or 'none'})",
                    key="roster",
                )
        self.escalator = Escalator(self.ledger, roster) if roster is not None else None
        self.engine = WarningEngine(self.ledger, channels=tuple(channels), roster=roster)
        self.scorers = Scorers(settings, self.store, self.engine, on_changes=self._kick.set)
        self.ingest = Ingest(self.store, self.scorers)

    def start(self) -> None:
        """Load the champions, score once (warnings open before the first request), and start
        delivering."""
        self.scorers.load()
        self.scorers.rescore()
        self._thread = threading.Thread(target=self._dispatch_loop, name="dispatcher", daemon=True)
        self._thread.start()

    def _dispatch_loop(self) -> None:
        while not self._stop.is_set():
            try:
                if self.escalator is not None:
                    self.escalator.escalate_due(self.scorers.clock.now())
                self.dispatcher.dispatch_due()
            except Exception:
                log.exception("dispatch pass failed")
            self._kick.wait(self.settings.dispatch_interval_s)
            self._kick.clear()

    def stop(self) -> None:
        self._stop.set()
        self._kick.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.ledger.dispose()
