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
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

from alerts import (
    AckLinks,
    Channel,
    Dispatcher,
    Escalator,
    Ledger,
    Roster,
    WarningEngine,
    WebhookChannel,
    load_channels,
    load_roster,
)
from features import ConfigError, Store
from serving.auth import Guard
from serving.ingest import Bounds, Ingest
from serving.keys import KeyStore
from serving.observability import Metrics
from serving.quarantine import Quarantine
from serving.scorers import Scorers
from serving.served import describe
from serving.settings import Settings
from serving.stream import WarningFeed
from serving.views import RiskViews

log = logging.getLogger(__name__)


class Runtime:
    """Builds the components; :meth:`start` loads and scores, :meth:`stop` releases."""

    def __init__(self, settings: Settings, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.store = Store(settings.data_dir)
        self.ledger = Ledger(settings.ledger)
        channels = build_channels(settings)
        self._stop = threading.Event()
        self._kick = threading.Event()
        roster = load_roster(settings.roster) if settings.roster is not None else None
        self.links = ack_links(settings, roster)
        self.dispatcher = Dispatcher(self.ledger, channels, wake=self._kick.set, links=self.links)
        self._thread: threading.Thread | None = None
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
        self.metrics = metrics or Metrics()
        self.scorers = Scorers(
            settings,
            self.store,
            self.engine,
            on_changes=self._kick.set,
            on_scored=lambda task, s: self.metrics.rescore.labels(task).observe(s),
        )
        bounds = Bounds(
            max_future=timedelta(seconds=settings.max_future_s),
            max_origin_jump=timedelta(seconds=settings.max_origin_jump_s),
            max_warning_changes=settings.max_warning_changes,
        )
        self.ingest = Ingest(
            self.store,
            self.scorers,
            Quarantine(settings.home / "quarantine"),
            bounds,
            on_rows=lambda t, outcome, n: self.metrics.ingested.labels(t, outcome).inc(n),
            on_lag=lambda t, s: self.metrics.ingest_lag.labels(t).observe(max(s, 0.0)),
        )
        self.keys = KeyStore(settings.keys, refresh_s=settings.key_refresh_s)
        self.guard = Guard(self.keys, settings.rate_limit, settings.rate_limit_storage)
        self.views = RiskViews(self.scorers, self.ledger.target_levels)
        self.scorers.after_apply.append(self.views.rebuild)
        self.feed = WarningFeed(self.ledger, poll_s=settings.stream_poll_s)
        self.scorers.after_apply.append(self.feed.wake)
        self.metrics.watch(self._served, self._data_age, self.ledger.outbox_counts)

    def _served(self) -> Iterable[Mapping[str, str]]:
        return [
            {
                "domain": d,
                "task": s.task.name,
                "family": str(m["family"]),
                "calibration": str(m["calibration"] or "none"),
                "version": s.version,
            }
            for d, s in self.scorers.by_domain.items()
            for m in [describe(s.model.forecaster)]
        ]

    def _data_age(self) -> Mapping[str, float]:
        wall = datetime.now(UTC)
        return {
            d: (wall - s.snapshot.origin).total_seconds()
            for d, s in self.scorers.by_domain.items()
            if s.snapshot is not None
        }

    def start(self) -> None:
        """Load the champions, score once (warnings open before the first request), and start
        delivering."""
        self.feed.start()
        self.scorers.load()
        self.scorers.rescore()
        self._thread = threading.Thread(target=self._dispatch_loop, name="dispatcher", daemon=True)
        self._thread.start()
        self._poller = threading.Thread(target=self._poll_champions, name="champions", daemon=True)
        self._poller.start()

    def _poll_champions(self) -> None:
        """Ask the registry for new champions now and then; a new one serves without a
        restart (``Scorers.refresh``)."""
        while not self._stop.wait(self.settings.champion_poll_s):
            try:
                self.scorers.refresh()
            except Exception:
                log.exception("asking the registry for new champions failed")

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
        self.feed.stop()
        self.ledger.dispose()
        self.keys.dispose()


def build_channels(settings: Settings) -> dict[str, Channel]:
    """The channels of the channels file (``CITYBRAIN_CHANNELS``) and the shorthand webhooks
    (``--webhook``/``CITYBRAIN_WEBHOOK_URL``, named ``webhook``, ``webhook-2``, ...; signed
    with ``CITYBRAIN_WEBHOOK_SECRET`` when set). Logged by name and address, never a secret.

    Raises:
        ConfigError: a bad channels file, a secret it names that is not there, or a shorthand
            name the file uses too.
    """
    channels = load_channels(settings.channels) if settings.channels is not None else {}
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    for i, url in enumerate(settings.webhooks):
        name = "webhook" if i == 0 else f"webhook-{i + 1}"
        if name in channels:
            raise ConfigError(
                f"the channels file {settings.channels} names a channel {name!r}, the name of "
                "a --webhook shorthand: rename it, or give that webhook in the file only",
                key="channels",
            )
        channels[name] = WebhookChannel(url, name=name, secret=secret)
    for channel in channels.values():
        log.info("delivering to %r", channel)
    if any(isinstance(c, WebhookChannel) and not c.signed for c in channels.values()):
        log.warning(
            "unsigned webhooks: receivers cannot tell our messages from forged ones; give "
            "them a secret (CITYBRAIN_WEBHOOK_SECRET, or secret: in the channels file)"
        )
    return channels


def ack_links(settings: Settings, roster: Roster | None) -> AckLinks | None:
    """The links that let officers acknowledge from a message, when the service has a secret to
    sign them and an address phones reach (``CITYBRAIN_ACK_SECRET``, ``CITYBRAIN_PUBLIC_URL``);
    each names the roster's contacts on its channel. None (and said) without both."""
    if settings.ack_secret is None or settings.public_url is None:
        if settings.ack_secret is not None or settings.public_url is not None:
            log.warning(
                "no acknowledgement links in messages: they need both CITYBRAIN_ACK_SECRET and "
                "CITYBRAIN_PUBLIC_URL"
            )
        return None
    readers: dict[str, list[str]] = {}
    if roster is not None:
        for entry in roster.rosters:
            for tier in entry.tiers:
                for contact in tier.contacts:
                    for channel in contact.channels:
                        readers.setdefault(channel, [])
                        if contact.name not in readers[channel]:
                            readers[channel].append(contact.name)
    return AckLinks(
        settings.ack_secret.get_secret_value(),
        settings.public_url,
        ttl_s=settings.ack_ttl_s,
        recipients={c: "、".join(names) for c, names in readers.items()},
    )
