"""The scoring API under load: the dashboard's poll against a bare endpoint, rescoring after a
batch, and a soak of polling and live ingest together.

Runs ``citybrain serve`` over a trained home (the four shipped tasks, as ``scripts/demo`` leaves
``.citybrain``) on a private copy of its data, and beside it a bare FastAPI endpoint
(``bare_app.py``) returning the same bytes as ``GET /v1/risk?domain=waterlogging``, both on one
uvicorn worker on loopback, loaded in turn by ``wrk`` (Debian's package; 1 thread, 50
connections). Figures:

- requests per second and p50/p99 of ``/v1/risk`` and of the bare endpoint, measured in
  alternating rounds of the same run, and their ratio (the aim: at least 0.8);
- the same poll answered 304 (``If-None-Match``);
- rescoring every served task after a 10-minute observation batch (the aim: under 500 ms), from
  the server's own ``citybrain_rescore_seconds`` and the POST's round trip;
- a soak: polling by ``wrk`` and a batch posted every 2 s together for ``--soak`` seconds, with
  ``/healthz`` probed meanwhile: errors (the aim: none), the server's memory over time (the
  aim: flat) and the health checks' worst latency.

    .venv/bin/python experiments/bench/api.py --home .citybrain          # ~3 min
    .venv/bin/python experiments/bench/api.py --home .citybrain --seconds 5 --soak 20 --no-record
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder would shadow the ``features`` package with features.py.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from datetime import timedelta  # noqa: E402

import httpx  # noqa: E402
import polars as pl  # noqa: E402

from features import Store  # noqa: E402
from serving import KeyStore  # noqa: E402

sys.path.append(str(_HERE))
from machine_info import machine  # noqa: E402
from served_home import free_port, record, serve, trained_home, wait_until_up  # noqa: E402

TASKS = "waterlogging,rivers,hotline,traffic"
RESULTS = _HERE / "results" / "api.md"


def _wrk(url: str, seconds: int, connections: int, headers: dict[str, str]) -> dict[str, float]:
    """One wrk round: requests/s, p50 and p99 in ms, errors (non-2xx/3xx and socket)."""
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout

    def latency(pct: str) -> float:
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if m is None:
            return float("nan")
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
        return float(m.group(1)) * scale

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(non2xx.group(1)) if non2xx else 0) + (
        sum(int(x) for x in sock.groups()) if sock else 0
    )
    return {"rps": rps, "p50": latency("50"), "p99": latency("99"), "errors": errors}


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Feed:
    """Observation batches that continue the store's data 10 minutes at a time: the last
    10 minutes of every series, shifted on (plausible values, new time stamps)."""

    def __init__(self, store: Store) -> None:
        obs = store.scan("observations").select("series_id", "ts", "value")
        last = obs.select(pl.col("ts").max()).collect().item()
        self.base = obs.filter(pl.col("ts") > last - timedelta(minutes=10)).collect()
        self.step = 0

    def next(self) -> list[dict]:
        self.step += 1
        shifted = self.base.with_columns(pl.col("ts") + timedelta(minutes=10 * self.step))
        return [
            {"series_id": r["series_id"], "ts": r["ts"].isoformat(), "value": r["value"]}
            for r in shifted.iter_rows(named=True)
        ]


def _rescore_sums(client: httpx.Client) -> dict[str, float]:
    text = client.get("/metrics").text
    found = re.findall(r'citybrain_rescore_seconds_sum\{task="([^"]+)"\} ([\d.e+-]+)', text)
    return {task: float(v) for task, v in found}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=Path(".citybrain"))
    parser.add_argument("--seconds", type=int, default=10, help="each wrk round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per endpoint")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--batches", type=int, default=6, help="rescoring batches timed")
    parser.add_argument("--soak", type=int, default=60, help="soak seconds")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    home = trained_home(args.home)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    load = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="citybrain-api-bench-"))
    shutil.copytree(home / "data", work / "data")
    ledger = f"sqlite:///{work / 'warnings.db'}"
    keys = KeyStore(ledger)
    read_key = keys.create("bench dashboard", ["read"])[1]
    ingest_key = keys.create("bench feed", ["ingest"])[1]
    keys.dispose()
    port, bare_port = free_port(), free_port()
    env = {
        **os.environ,
        "CITYBRAIN_HOME": str(home),
        "CITYBRAIN_TASKS": TASKS,
        "CITYBRAIN_LEDGER_URL": ledger,
        "CITYBRAIN_RATE_LIMIT": "100000000/minute",  # the bench's one key polls flat out
        "CITYBRAIN_CHAMPION_POLL_S": "3600",
    }
    server = serve(work / "data", port, env, work / "server.log")
    bare = None
    try:
        api = f"http://127.0.0.1:{port}"
        print(f"starting the API over {home} (4 tasks) ...", file=sys.stderr)
        wait_until_up(f"{api}/readyz", server)
        reader = {"X-API-Key": read_key}
        client = httpx.Client(base_url=api, headers=reader, timeout=60)
        body = client.get("/v1/risk", params={"domain": "waterlogging"})
        body.raise_for_status()
        sizes = {
            d: len(client.get("/v1/risk", params={"domain": d}).content) for d in TASKS.split(",")
        }
        (work / "body.json").write_bytes(body.content)
        bare = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "bare_app:app", "--port", str(bare_port),
             "--log-level", "warning", "--no-access-log", "--no-server-header"],
            cwd=_HERE, env={**env, "BENCH_BODY": str(work / "body.json")},
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )  # fmt: skip
        wait_until_up(f"http://127.0.0.1:{bare_port}/bare", bare)
        risk_url = f"{api}/v1/risk?domain=waterlogging"
        bare_url = f"http://127.0.0.1:{bare_port}/bare"
        for url, hdr in ((risk_url, reader), (bare_url, {})):  # warm both
            _wrk(url, 2, args.connections, hdr)
        rounds: dict[str, list[dict[str, float]]] = {"risk": [], "bare": []}
        for r in range(args.rounds):
            for name, url, hdr in (("bare", bare_url, {}), ("risk", risk_url, reader)):
                got = _wrk(url, args.seconds, args.connections, hdr)
                rounds[name].append(got)
                print(f"  round {r + 1} {name}: {got['rps']:.0f} req/s, p99 {got['p99']:.1f} ms",
                      file=sys.stderr)  # fmt: skip
        etag = client.get("/v1/risk", params={"domain": "waterlogging"}).headers["etag"]
        not_modified = _wrk(
            risk_url, args.seconds, args.connections, {**reader, "If-None-Match": etag}
        )

        # rescoring after a batch
        feed = Feed(Store(work / "data"))
        poster = httpx.Client(base_url=api, headers={"X-API-Key": ingest_key}, timeout=120)
        per_batch: list[dict[str, float]] = []
        trips: list[float] = []
        for _ in range(args.batches):
            before = _rescore_sums(client)
            rows = feed.next()
            t0 = time.perf_counter()
            answer = poster.post("/v1/observations", json=rows)
            trips.append(time.perf_counter() - t0)
            answer.raise_for_status()
            after = _rescore_sums(client)
            per_batch.append({t: after[t] - before.get(t, 0.0) for t in after})
            took = ", ".join(f"{t} {s * 1000:.0f} ms" for t, s in per_batch[-1].items())
            print(f"  batch: {took}", file=sys.stderr)
        rescore_total = [sum(b.values()) for b in per_batch]

        # soak: polling and ingest together
        rss: list[tuple[float, float]] = []
        health: list[float] = []
        ingest_codes: list[int] = []
        stop = threading.Event()

        def ingest_loop() -> None:
            while not stop.is_set():
                ingest_codes.append(poster.post("/v1/observations", json=feed.next()).status_code)
                stop.wait(2.0)

        def probe_loop() -> None:
            with httpx.Client(base_url=api, timeout=30) as probe:
                start = time.monotonic()
                while not stop.is_set():
                    t0 = time.perf_counter()
                    probe.get("/healthz").raise_for_status()
                    health.append(time.perf_counter() - t0)
                    if not rss or time.monotonic() - start - rss[-1][0] >= 5:
                        rss.append((time.monotonic() - start, _rss_mb(server.pid)))
                    stop.wait(0.5)

        threads = [threading.Thread(target=f) for f in (ingest_loop, probe_loop)]
        for t in threads:
            t.start()
        soak = _wrk(risk_url, args.soak, 10, reader)
        stop.set()
        for t in threads:
            t.join()
    finally:
        server.terminate()
        server.wait(timeout=20)
        if bare is not None:
            bare.terminate()
            bare.wait(timeout=20)

    med = {k: statistics.median(x["rps"] for x in v) for k, v in rounds.items()}
    p99 = {k: statistics.median(x["p99"] for x in v) for k, v in rounds.items()}
    p50 = {k: statistics.median(x["p50"] for x in v) for k, v in rounds.items()}
    errors = sum(x["errors"] for v in rounds.values() for x in v)
    ratio = med["risk"] / med["bare"]
    tasks = sorted(per_batch[0])
    task_ms = {t: statistics.median(b[t] for b in per_batch) * 1000 for t in tasks}
    warm = [m for s, m in rss if s >= args.soak * 0.25] or [m for _, m in rss]
    lines = [
        f"# API under load ({time.strftime('%Y-%m-%d')})",
        "",
        f"Machine: {machine(('FastAPI', 'fastapi'), ('uvicorn', 'uvicorn'))}; load average "
        f"{load:.2f} at the start. Server and reference: one uvicorn worker each on loopback; "
        f"wrk 1 thread, {args.connections} connections, {args.rounds} alternating rounds of "
        f"{args.seconds} s each (medians). Home: the demo's trained city (4 tasks).",
        "",
        "| endpoint | body | req/s | p50 ms | p99 ms |",
        "|---|---:|---:|---:|---:|",
        f"| `GET /v1/risk?domain=waterlogging` (key, rate limit, metrics, access log) | "
        f"{sizes['waterlogging']:,} B | {med['risk']:.0f} | {p50['risk']:.1f} | "
        f"{p99['risk']:.1f} |",
        f"| bare FastAPI, constant bytes of the same size | {sizes['waterlogging']:,} B | "
        f"{med['bare']:.0f} | {p50['bare']:.1f} | {p99['bare']:.1f} |",
        f"| `/v1/risk` answered 304 (`If-None-Match`) | 0 B | {not_modified['rps']:.0f} | "
        f"{not_modified['p50']:.1f} | {not_modified['p99']:.1f} |",
        "",
        f"**Ratio /v1/risk : bare = {ratio:.2f}** (aim >= 0.80); errors in these rounds: {errors}. "
        "Other domains' documents: "
        + ", ".join(f"{d} {n:,} B" for d, n in sizes.items() if d != "waterlogging")
        + ".",
        "",
        f"**Rescoring after a 10-minute batch** ({len(feed.base):,} observations of every "
        f"series, {args.batches} batches): all tasks {statistics.median(rescore_total) * 1000:.0f}"
        f" ms median, {max(rescore_total) * 1000:.0f} ms worst (aim < 500 ms; batch by batch "
        + ", ".join(f"{t * 1000:.0f}" for t in rescore_total)
        + " ms, one of them completing an hour, when the hourly hotline is rescored too); "
        "median per task "
        + ", ".join(f"{t} {ms:.0f} ms" for t, ms in task_ms.items())
        + f". The POST's round trip (validate, merge into Parquet, try, score, warnings): "
        f"{statistics.median(trips) * 1000:.0f} ms median.",
        "",
        f"**Soak** ({args.soak} s: wrk polling with 10 connections at {soak['rps']:.0f} req/s, "
        f"a batch posted every 2 s, /healthz probed every 0.5 s): polling errors "
        f"{soak['errors']}, ingest answers {sorted(set(ingest_codes))} "
        f"({len(ingest_codes)} batches), /healthz worst {max(health) * 1000:.0f} ms (median "
        f"{statistics.median(health) * 1000:.1f} ms); server memory {rss[0][1]:.0f} MB at the "
        f"start, {min(warm):.0f}-{max(warm):.0f} MB after the first quarter, "
        f"{rss[-1][1]:.0f} MB at the end.",
    ]
    record("\n".join(lines) + "\n", RESULTS, keep=not args.no_record)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
