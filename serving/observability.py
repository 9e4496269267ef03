"""What operations sees: Prometheus metrics, structured JSON logs and a request id on each.

:class:`Metrics` holds the service's metrics in a registry of its own (one per app, so tests
can build several apps in one process): request latency by route, rescoring time per task,
rows ingested, and, read at each scrape, the served model versions, how old each domain's data
is, and the outbox by channel and state. :class:`Observed` is the ASGI middleware that gives
every request an id (``X-Request-ID``, taken from the caller or made), times it under its route
template (``/v1/risk/{domain}/{series_id}``, not each series) and logs one JSON line for it
(:class:`AccessLog`, written off the request's path).
Logs never carry a key's secret or a request body: only the key's id, set by ``serving.auth``.
"""

from __future__ import annotations

import contextvars
import itertools
import logging
import secrets
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from pythonjsonlogger.json import JsonFormatter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


def configure_logging(level: int = logging.INFO, *, json_logs: bool = True) -> None:
    """Log to stderr, one JSON object a line (time, level, logger, message, request id and any
    ``extra`` fields); plain text with ``json_logs=False`` for a person at a terminal."""
    handler = logging.StreamHandler()
    handler.addFilter(_RequestIdFilter())
    if json_logs:
        handler.setFormatter(
            JsonFormatter(
                "{asctime}{levelname}{name}{message}{request_id}",
                style="{",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


class _Scraped(Collector):
    """Values read when Prometheus scrapes, from callables the runtime provides."""

    def __init__(
        self,
        models: Callable[[], Iterable[Mapping[str, str]]],
        data_age: Callable[[], Mapping[str, float]],
        outbox: Callable[[], Mapping[tuple[str, str], int]],
    ) -> None:
        self._models, self._data_age, self._outbox = models, data_age, outbox

    def collect(self) -> Iterable[Metric]:
        info = GaugeMetricFamily(
            "citybrain_model_info",
            "The model serving each domain (1 per served model)",
            labels=["domain", "task", "family", "calibration", "version"],
        )
        for m in self._models():
            info.add_metric(
                [m["domain"], m["task"], m["family"], m["calibration"], m["version"]], 1
            )
        yield info
        age = GaugeMetricFamily(
            "citybrain_data_age_seconds",
            "Wall-clock time since each domain's forecast origin (its newest complete data)",
            labels=["domain"],
        )
        for domain, seconds in self._data_age().items():
            age.add_metric([domain], seconds)
        yield age
        box = GaugeMetricFamily(
            "citybrain_outbox_messages",
            "Warning messages by channel and state (pending is the depth to deliver)",
            labels=["channel", "state"],
        )
        for (channel, state), n in sorted(self._outbox().items()):
            box.add_metric([channel, state], n)
        yield box


class Metrics:
    """The service's metrics, in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Histogram(
            "citybrain_http_request_duration_seconds",
            "HTTP request latency by route template, method and status",
            ["route", "method", "status"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.rescore = Histogram(
            "citybrain_rescore_seconds",
            "Time to rescore one task after new data",
            ["task"],
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.ingested = Counter(
            "citybrain_ingest_rows",
            "Rows posted, by table and what became of them",
            ["table", "outcome"],
            registry=self.registry,
        )
        self.ingest_lag = Histogram(
            "citybrain_ingest_lag_seconds",
            "How long after its time stamp the newest row of each accepted batch arrived",
            ["table"],
            buckets=(1, 10, 60, 300, 600, 1800, 3600, 6 * 3600, 86400, 7 * 86400),
            registry=self.registry,
        )

    def watch(
        self,
        models: Callable[[], Iterable[Mapping[str, str]]],
        data_age: Callable[[], Mapping[str, float]],
        outbox: Callable[[], Mapping[tuple[str, str], int]],
    ) -> None:
        """Register the values read at scrape time (once the runtime can answer them)."""
        self.registry.register(_Scraped(models, data_age, outbox))


class AccessLog:
    """One JSON line per request on stderr, written in batches by a background thread.

    A poll costs a fraction of a millisecond; building a ``logging`` record and formatting it
    for each would be a large part of that. The line is a dict serialised by ``orjson`` and
    appended to a buffer; the writer flushes it every ``flush_s``. Same fields as every other
    log line (time, level, logger, message, request id)."""

    def __init__(self, *, enabled: bool = True, flush_s: float = 0.2) -> None:
        self.enabled = enabled
        self._lines: list[bytes] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._flush_s = flush_s
        self._thread: threading.Thread | None = None

    def write(self, fields: dict[str, Any]) -> None:
        if not self.enabled:
            return
        line = orjson.dumps(
            {
                "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "level": "INFO",
                "logger": "citybrain.access",
                "message": "request",
                **fields,
            }
        )
        with self._lock:
            self._lines.append(line)
        if self._thread is None:
            self._start()

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="access-log", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._flush_s):
            self.flush()
        self.flush()

    def flush(self) -> None:
        with self._lock:
            lines, self._lines = self._lines, []
        if lines:
            sys.stderr.write(b"\n".join(lines).decode() + "\n")
            sys.stderr.flush()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self.flush()


_PREFIX = secrets.token_hex(4)
_COUNTER = itertools.count(1)


class Observed:
    """ASGI middleware: request id, latency histogram by route and a JSON access log line."""

    def __init__(self, app: ASGIApp, metrics: Metrics, access: AccessLog) -> None:
        self.app, self.metrics, self.access = app, metrics, access
        self._children: dict[tuple[str, str, int], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = b""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                given = value
                break
        text = given.decode("latin-1")
        ok = 0 < len(text) <= 64 and text.isprintable()
        request_id = text if ok else f"{_PREFIX}{next(_COUNTER):010x}"
        token = REQUEST_ID.set(request_id)
        status = 500
        start = time.perf_counter()
        id_header = (b"x-request-id", request_id.encode("latin-1"))

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", []), id_header]}
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            elapsed = time.perf_counter() - start
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            key = (template, scope["method"], status)
            child = self._children.get(key)
            if child is None:
                child = self.metrics.requests.labels(template, scope["method"], str(status))
                if len(self._children) < 1000:
                    self._children[key] = child
            child.observe(elapsed)
            state: Any = scope.get("state") or {}
            self.access.write(
                {
                    "request_id": request_id,
                    "method": scope["method"],
                    "route": template,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "key_id": state.get("key_id") if isinstance(state, dict) else None,
                }
            )
            REQUEST_ID.reset(token)


class _TooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: a body past ``limit`` bytes is refused with 413 and the error body,
    before it is read when ``Content-Length`` says so, else as soon as the bytes read pass the
    limit; the server never holds more than the limit of one request's body."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        seen = {"bytes": 0, "started": False}

        async def counted() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                seen["bytes"] += len(message.get("body", b""))
                if seen["bytes"] > self.limit:
                    raise _TooLarge
            return message

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen["started"] = True
            await send(message)

        try:
            await self.app(scope, counted, sending)
        except _TooLarge:
            if seen["started"]:
                raise
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = (
            b'{"error":"ContentTooLarge","detail":"the body is larger than the limit of '
            + f"{self.limit:,}".encode()
            + b' bytes (CITYBRAIN_MAX_BODY_BYTES); send fewer rows a request"}'
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
