"""Nothing a duty officer should see is lost: the real service is killed (SIGKILL) while its
warnings wait in the outbox for a receiver that is down; once both are back, every message
arrives, checked by its signature, and none twice after de-duplication by its idempotency key.
On the embedded SQLite ledger and on the real PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import polars as pl
import yaml
from live_server import admin_key, copy_city, free_port, post_until, wait_for, wait_ready

from alerts import Ledger
from serving import WebhookReceiver

SECRET = "duty-room-secret-值班"


def _start(env: dict[str, str], port: int, data: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "serving", "serve", "--port", str(port), "--data", str(data)],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def _outbox(ledger_url: str) -> list:
    ledger = Ledger(ledger_url)
    try:
        return ledger.outbox()
    finally:
        ledger.dispose()


def test_a_killed_service_delivers_every_warning_once_its_receiver_is_back(
    trained, ledger_url, tmp_path
):
    data = copy_city(trained["data"], tmp_path / "data")
    hook_port, api_port = free_port(), free_port()  # nothing listens on the hook's port yet
    channels = tmp_path / "channels.yaml"
    duty = {"name": "duty", "type": "webhook", "url": f"http://127.0.0.1:{hook_port}/",
            "secret": {"env": "CB_DURABILITY_SECRET"},
            "retry": {"first": "1s", "longest": "2s", "give_up_after": "1h"}}  # fmt: skip
    channels.write_text(yaml.safe_dump({"channels": [duty]}))
    env = {
        **os.environ,
        "CITYBRAIN_HOME": str(trained["home"]),
        "CITYBRAIN_TASKS": str(trained["task"]),
        "CITYBRAIN_LEDGER_URL": ledger_url,
        "CITYBRAIN_CHANNELS": str(channels),
        "CITYBRAIN_DISPATCH_INTERVAL_S": "0.2",
        "CB_DURABILITY_SECRET": SECRET,
    }
    token = admin_key(env, "durability test")
    log = tmp_path / "server.log"
    held = trained["held"].filter(
        pl.col("series_id").str.starts_with("ponding") | pl.col("series_id").str.starts_with("rain")
    )
    receiver = None
    server = _start(env, api_port, data, log)
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{api_port}", timeout=60, headers={"X-API-Key": token}
        ) as client:
            wait_ready(client, server, log)

            def tried_and_waiting() -> bool:
                pending = client.get("/v1/deliveries", params={"state": "pending"}).json()
                return any(d["attempts"] >= 1 for d in pending["deliveries"])

            post_until(client, held, tried_and_waiting)
            assert wait_for(tried_and_waiting), "no warning was queued and tried"
            server.send_signal(signal.SIGKILL)
            server.wait(timeout=10)

        # the kill left every message in the ledger, none delivered
        queued = _outbox(ledger_url)
        assert queued and {r.status for r in queued} == {"pending"}
        assert any(r.attempts >= 1 for r in queued)

        receiver = WebhookReceiver(secret=SECRET, port=hook_port).start()
        server = _start(env, api_port, data, log)
        with httpx.Client(
            base_url=f"http://127.0.0.1:{api_port}", timeout=60, headers={"X-API-Key": token}
        ) as client:
            wait_ready(client, server, log)

            def all_sent() -> bool:
                rows = client.get("/v1/deliveries").json()["deliveries"]
                return bool(rows) and all(d["state"] == "sent" for d in rows)

            assert wait_for(all_sent, seconds=30), client.get("/v1/deliveries").json()
        final = _outbox(ledger_url)
        assert {r.id for r in queued} <= {r.id for r in final}  # nothing queued was lost
        keys = [m["delivery_id"] for m in receiver.received]
        assert len(keys) == len(set(keys))  # the receiver kept one copy of each
        assert sorted(keys) == sorted(r.id for r in final)  # every message arrived
        assert not receiver.rejected  # each one signed with the channel's secret
        ledger = Ledger(ledger_url)
        try:
            warned = {w.id for w in ledger.list()}
        finally:
            ledger.dispose()
        assert warned and warned == {m["id"] for m in receiver.received}
    finally:
        if server.poll() is None:
            server.terminate()
            server.wait(timeout=10)
        if receiver is not None:
            receiver.stop()
