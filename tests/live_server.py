"""``citybrain serve`` as a real uvicorn process for integration tests: started on a free port
over a private copy of the city with the given tasks and ledger, its warnings reaching a real
webhook receiver, and both stopped however the test ends."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import httpx
import polars as pl

from features import Store
from serving import KeyStore, WebhookReceiver


def copy_city(source: Path, target: Path, *, until: datetime | None = None) -> Path:
    """A private copy of a city's data folder (what a served test posts must not reach other
    tests), its observations and events cut at ``until`` when given."""
    shutil.copytree(source, target)
    if until is not None:
        store = Store(target)
        for table in ("observations", "events"):
            store.write(table, store.read(table).filter(pl.col("ts") <= until))
    return target


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def admin_key(env: dict[str, str], name: str = "integration test") -> str:
    """An admin key's token, made as an operator would (``citybrain keys create``), before
    the server starts."""
    made = subprocess.run(
        [sys.executable, "-m", "serving", "keys", "create", "--name", name,
         "--role", "admin", "--json"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return str(json.loads(made.stdout)["token"])


def role_keys(ledger_url: str, holders: dict[str, str]) -> dict[str, str]:
    """A key per role (role -> its holder's name) in the ledger's key store, made before a
    server starts on it; role -> token."""
    store = KeyStore(ledger_url)
    try:
        return {role: store.create(name, [role])[1] for role, name in holders.items()}
    finally:
        store.dispose()


@contextmanager
def live_server(
    *,
    home: Path,
    city: Path,
    workdir: Path,
    tasks: list[Path],
    ledger_url: str,
    roster: Path | None = None,
    until: datetime | None = None,
) -> Iterator[tuple[httpx.Client, WebhookReceiver]]:
    """A client of a real server serving ``tasks`` on a private copy of ``city`` (cut at
    ``until``) once it answers ``/readyz``, and the webhook receiver its warnings reach."""
    data = copy_city(city, workdir / "data", until=until)
    receiver = WebhookReceiver().start()
    port = free_port()
    env = {
        **os.environ,
        "CITYBRAIN_HOME": str(home),
        "CITYBRAIN_TASKS": ",".join(str(t) for t in tasks),
        "CITYBRAIN_DISPATCH_INTERVAL_S": "0.2",
        "CITYBRAIN_LEDGER_URL": ledger_url,
    }
    if roster is not None:
        env["CITYBRAIN_ROSTER"] = str(roster)
    token = admin_key(env)
    args = ["serve", "--port", str(port), "--data", str(data), "--webhook", receiver.url]
    # the server's JSON log goes to a file: a pipe nobody reads fills up and stops the server
    log = (workdir / "server.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "serving", *args],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", timeout=60, headers={"X-API-Key": token}
        ) as client:
            wait_ready(client, server, workdir / "server.log")
            yield client, receiver
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()
        receiver.stop()


def post_until(
    client: httpx.Client, observations: pl.DataFrame, done: Callable[[], object]
) -> None:
    """Post ``observations`` one time stamp at a time, as they would arrive, until ``done()``
    holds (or all are posted); every post must be accepted."""
    for batch in sorted(observations.partition_by("ts"), key=lambda b: b["ts"][0]):
        rows = [
            {"series_id": r["series_id"], "ts": r["ts"].isoformat(), "value": r["value"]}
            for r in batch.iter_rows(named=True)
        ]
        answer = client.post("/v1/observations", json={"observations": rows})
        assert answer.status_code == 200, answer.text
        if done():
            return


def wait_for(predicate: Callable[[], object], seconds: float = 20.0) -> bool:
    """Poll ``predicate()`` every 0.2 s until it holds or ``seconds`` pass; whether it held."""
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def wait_ready(client: httpx.Client, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if server.poll() is not None:
            out = log.read_text(errors="replace")[-5000:]
            raise AssertionError(f"server exited early:\n{out}")
        try:
            if client.get("/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise AssertionError("server did not become ready within 90 s")
