"""A local webhook receiver: the demo's stand-in for a duty officer's messaging system.

A real HTTP server on loopback that takes warning payloads as a careful integrator would: with
a secret it checks each message's signature and timestamp (:func:`alerts.verify_signature`)
and answers 401 to a forged, altered or replayed one; it keeps one copy per idempotency key
(``Idempotency-Key``), counting the repeats that at-least-once delivery brings, so the demo
and the tests see a warning travel from the engine through the outbox and a real, verified
HTTP delivery.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from alerts import IDEMPOTENCY_HEADER, SignatureError, verify_signature


class WebhookReceiver:
    """Collects JSON posts on ``http://127.0.0.1:<port>/`` (``port`` 0: any free one);
    ``on_message`` sees each new one. ``received`` holds each message once (by idempotency
    key), ``repeats`` counts the copies dropped, ``rejected`` the refusals and why."""

    def __init__(
        self,
        on_message: Callable[[dict[str, Any]], None] | None = None,
        *,
        secret: str | None = None,
        port: int = 0,
    ) -> None:
        self.received: list[dict[str, Any]] = []
        self.repeats = 0
        self.rejected: list[str] = []
        self._keys: set[str] = set()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                if secret is not None:
                    try:
                        verify_signature(secret, dict(self.headers.items()), raw, now=time.time())
                    except SignatureError as err:
                        receiver.rejected.append(str(err))
                        self._answer(401, {"error": str(err)})
                        return
                body = json.loads(raw or b"{}")
                key = self.headers.get(IDEMPOTENCY_HEADER)
                with receiver._lock:
                    fresh = key is None or key not in receiver._keys
                    if fresh:
                        if key is not None:
                            receiver._keys.add(key)
                        receiver.received.append(body)
                    else:
                        receiver.repeats += 1
                if fresh and on_message is not None:
                    on_message(body)
                self._answer(200, {"ok": True, "duplicate": not fresh})

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
