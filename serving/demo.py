"""``citybrain demo``: the main job on a fresh machine.

Simulates a rainy season in the built-in city with a typhoon at its end, trains every shipped
task (waterlogging, rivers, hotline, traffic: backtest with the service's warnings replayed,
MLflow run, registered champion), starts the MLflow UI and the API with a duty roster, and
replays the last hours of observations and hotline calls into the API as if they were arriving
live, so warnings open, group, escalate and close in every domain and reach a webhook receiver
while you watch; a summary per domain and level ends the replay.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import click
import httpx
import polars as pl
import uvicorn
from pydantic import SecretStr

from features import LOCAL_TZ, CityTables, Store, load_task, reports_errors, shipped_tasks_dir
from models import close_pools
from serving.app import create_app
from serving.keys import KeyStore
from serving.receiver import WebhookReceiver
from serving.settings import Settings
from training import WarningSkill, print_warning_skill

TASKS = ("waterlogging", "rivers", "hotline", "traffic")
# minutes each takes to train beside another on the demo's city (2026-12-07): the longest start
# first, so the last to finish is a short one
TRAINING_MINUTES = {"hotline": 2.8, "traffic": 2.6, "rivers": 2.2, "waterlogging": 0.8}
# the roster of the replay: its tiers and re-sends run on the service's clock, the data's time,
# so the hours of the typhoon page the shift leader and the director as they would live
REPLAY_ROSTER = "demo.yaml"

log = logging.getLogger(__name__)
START = date(2025, 5, 1)


def _step(n: int, text: str) -> None:
    click.secho(f"[{n}/4] {text}", fg="cyan", err=True)


@dataclass(frozen=True)
class Held:
    """What the simulation held back for the live replay: observations and events (calls)."""

    observations: pl.DataFrame
    events: pl.DataFrame


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def _print_warning(body: dict[str, Any]) -> None:
    w = body.get("warning", body)
    text = w.get("message_zh") or w.get("message_en") or str(w)
    click.secho(f"  [webhook] {body.get('action', '')}: {text}", fg="yellow", err=True)


@click.command("demo")
@click.option(
    "--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="the API's port"
)
@click.option("--mlflow-port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--days",
    default=150,
    show_default=True,
    type=click.IntRange(50, 730),
    help="days of simulated history, from 2025-05-01",
)
@click.option("--seed", default=7, show_default=True)
@click.option(
    "--replay-hours",
    default=36,
    show_default=True,
    type=click.IntRange(1, 240),
    help="hours held back from training and replayed live into the API",
)
@click.option(
    "--replay-interval",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0),
    help="seconds between replayed 10-minute batches",
)
@click.option("--exit-after-replay", is_flag=True, help="stop once the replay is done (tests)")
@reports_errors
def demo(
    port: int,
    mlflow_port: int,
    days: int,
    seed: int,
    replay_hours: int,
    replay_interval: float,
    exit_after_replay: bool,
) -> None:
    """Simulate a season with a typhoon, train, and serve with a live replay."""
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    if not _port_free(port):
        raise click.UsageError(f"port {port} is in use; choose another with --port")
    settings = Settings()
    held = _simulate_season(settings, days=days, seed=seed, replay_hours=replay_hours)
    _train_all(settings)

    _step(3, "starting the MLflow UI and a webhook receiver")
    mlflow_proc = _start_mlflow(settings, mlflow_port)
    # the demo's webhook is signed and its receiver checks every message, as a city's should
    secret = settings.webhook_secret or SecretStr(secrets.token_urlsafe(32))
    receiver = WebhookReceiver(on_message=_print_warning, secret=secret.get_secret_value()).start()

    roster = shipped_tasks_dir().parent / "rosters" / REPLAY_ROSTER
    _step(4, f"serving {', '.join(TASKS)} with the duty roster {roster.name}; replaying the "
          "held-back hours into POST /v1/observations and /v1/events")  # fmt: skip
    keys = _make_keys(settings)
    app = create_app(
        settings.model_copy(
            update={
                "webhook_url": receiver.url,
                "webhook_secret": secret,
                "dispatch_interval_s": 0.5,
                "tasks": ",".join(TASKS),
                "roster": roster,
                "access_log": False,  # the console tells the story; no line per request
            }
        )
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    api = f"http://127.0.0.1:{port}"
    replay = threading.Thread(
        target=_replay,
        args=(api, keys, held, replay_interval, server, exit_after_replay),
        daemon=True,
    )
    replay.start()
    mlflow_url = f"http://127.0.0.1:{mlflow_port}" if mlflow_proc is not None else None
    _print_addresses(api, mlflow_url=mlflow_url, webhook_url=receiver.url, keys=keys)
    try:
        server.run()
    finally:
        receiver.stop()
        if mlflow_proc is not None:
            mlflow_proc.terminate()
    if exit_after_replay:
        click.echo(
            f"replay done: {len(receiver.received)} warning messages delivered, signed and "
            f"checked ({receiver.repeats} repeats dropped, {len(receiver.rejected)} refused)",
            err=True,
        )


def _simulate_season(settings: Settings, *, days: int, seed: int, replay_hours: int) -> Held:
    """Step 1: simulate the season into a fresh data folder (and forget old warnings), holding
    back the last ``replay_hours`` of observations and events, returned for the live replay.

    A typhoon lands inside the replay window and an earlier one inside the backtest's folds.
    """
    from citysim import simulate, write_city

    data = settings.data_dir
    end = datetime.combine(START, datetime.min.time(), tzinfo=UTC) + timedelta(days=days)
    landfall = end - timedelta(hours=max(6, replay_hours // 2))
    cutoff = end - timedelta(hours=replay_hours)
    # an earlier typhoon inside the backtest's folds, so the backtest has a storm to judge
    earlier = end - timedelta(days=10, hours=6)

    _step(
        1,
        f"simulating {days} days of the city from {START} (typhoons landing "
        f"{earlier:%Y-%m-%d %H:%M} and {landfall:%Y-%m-%d %H:%M} UTC) into {data}",
    )
    t0 = time.perf_counter()
    tables = simulate(
        days=days, seed=seed, start=START, typhoons=[earlier, landfall], progress=True
    )
    held = Held(
        tables["observations"].filter(pl.col("ts") > cutoff),
        tables["events"].filter(pl.col("ts") > cutoff),
    )
    for name in ("observations", "events"):
        tables[name] = tables[name].filter(pl.col("ts") <= cutoff)
    shutil.rmtree(data, ignore_errors=True)
    write_city(data, tables)
    (settings.home / "warnings.db").unlink(missing_ok=True)
    click.echo(
        f"  {tables['observations'].height:,} observations and {tables['events'].height:,} "
        f"events stored; {held.observations.height:,} observations and "
        f"{held.events.height:,} events held back for the live replay "
        f"({time.perf_counter() - t0:.0f} s)",
        err=True,
    )
    return held


@dataclass(frozen=True)
class Trained:
    """What the demo prints of one task's training; the backtest itself stays in the process
    that trained it (a traffic backtest's frames are hundreds of megabytes)."""

    name: str
    domain: str
    mae: float
    baseline_mae: float
    chosen: str
    baseline: str
    skill: dict[str, WarningSkill]
    model_name: str
    version: str
    alias: str
    reason: str
    seconds: float


def _train_one(name: str, settings: Settings) -> Trained:
    """One task's whole training (backtest, warning replay, MLflow run, registration), in a
    worker process, with its own tables and one OpenMP thread (:func:`_one_thread_each`)."""
    from training import train_task

    logging.getLogger("mlflow").setLevel(logging.ERROR)  # as in the parent: no registry chatter
    task = load_task(name)
    tables = CityTables.from_store(Store(settings.data_dir))
    try:
        outcome = train_task(tables, task, settings=settings.tracking(), progress=False)
    finally:
        close_pools()  # else this worker's exit waits forever on the statistical models' pool
    result = outcome.backtest
    return Trained(
        name=name,
        domain=task.domain,
        mae=float(result.summary["model_mae"]),
        baseline_mae=float(result.summary["baseline_mae"]),
        chosen=result.chosen,
        baseline=result.baseline,
        skill=dict(result.warning_skill.get("model", {})),
        model_name=outcome.model_name,
        version=outcome.version,
        alias=outcome.alias,
        reason=outcome.reason,
        seconds=outcome.seconds,
    )


def _train_all(settings: Settings, workers: int = 2) -> None:
    """Step 2: train every shipped task on the stored season, so the API has a champion for
    each; each one's warning skill, replayed through the service's engine, is printed.

    The tasks train in ``workers`` processes at once, longest first: the hotline's
    statistical and sequence fits run on one core, so a second task's fits fill the other.
    A line every 30 s says which are still training."""
    from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
    from multiprocessing import get_context

    from training import configure

    _step(2, f"training every shipped task ({', '.join(TASKS)}): backtest, MLflow, registry")
    configure(settings.tracking())  # the tracking database exists before the workers write
    t0 = time.perf_counter()
    order = sorted(TASKS, key=lambda name: -TRAINING_MINUTES.get(name, 0.0))
    queue = list(order)
    with (
        _one_thread_each(),
        ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool,
    ):
        running: dict[Future[Trained], str] = {}
        click.echo(f"  {workers} at a time, longest first: {', '.join(order)}", err=True)
        while queue or running:
            while queue and len(running) < workers:  # submitted only when a worker is free
                name = queue.pop(0)
                running[pool.submit(_train_one, name, settings)] = name
            done, _ = wait(running, timeout=30, return_when=FIRST_COMPLETED)
            for future in done:
                running.pop(future)
                _print_trained(future.result())
            if not done:
                click.echo(
                    f"  ... {time.perf_counter() - t0:.0f} s: training "
                    + ", ".join(running.values())
                    + (f"; next {', '.join(queue)}" if queue else ""),
                    err=True,
                )
    click.echo(f"  trained {len(TASKS)} tasks in {time.perf_counter() - t0:.0f} s", err=True)


@contextmanager
def _one_thread_each() -> Iterator[None]:
    """Workers started inside get a thread budget of one (``CITYBRAIN_THREADS``: LightGBM's
    threads, the statistical families' pool) and run OpenMP and BLAS on one thread: two
    processes of two spinning OpenMP threads on two cores ran the demo's training at a third
    of its speed. Set in the environment, which the spawned workers inherit before their
    libraries load (a limit set after LightGBM loaded would not reach it), and restored."""
    names = ("CITYBRAIN_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    saved = {n: os.environ.get(n) for n in names}
    os.environ.update(dict.fromkeys(names, "1"))
    try:
        yield
    finally:
        for n, value in saved.items():
            if value is None:
                os.environ.pop(n, None)
            else:
                os.environ[n] = value


def _print_trained(t: Trained) -> None:
    click.secho(f"  {t.name}: trained in {t.seconds:.0f} s", fg="cyan", err=True)
    click.echo(
        f"  backtest MAE {t.mae:.3f} ({t.chosen}) against {t.baseline_mae:.3f} ({t.baseline})",
        err=True,
    )
    if t.skill:
        print_warning_skill(t.domain, {"model": t.skill})
    click.echo(f"  {t.model_name} v{t.version} is {t.alias}: {t.reason}", err=True)


def _make_keys(settings: Settings) -> dict[str, str]:
    """One API key per role for the demo's people: the dashboard reads, the replay ingests, the
    duty officer acknowledges, the admin reloads models (``citybrain keys create`` does the
    same for a city)."""
    store = KeyStore(settings.keys)
    holders = {
        "read": "指挥大屏 command-hall screen",
        "ingest": "数据接入 live feed",
        "officer": "值班员 duty officer",
        "admin": "管理员 admin",
    }
    keys = {role: store.create(name, [role])[1] for role, name in holders.items()}
    store.dispose()
    return keys


def _print_addresses(
    api: str, *, mlflow_url: str | None, webhook_url: str, keys: dict[str, str]
) -> None:
    """Where to look while the demo runs (the dashboard opened with the read key), and the
    keys to call with; the MLflow UI only when it was started."""
    click.secho(
        f"\n  API        {api}   (docs {api}/docs, risk {api}/v1/risk?domain=waterlogging,"
        f" warnings {api}/v1/warnings)",
        fg="green",
        err=True,
    )
    # the read key rides in the fragment, which the browser keeps to itself (never logged)
    click.secho(f"  dashboard  {api}/#key={keys['read']}", fg="green", err=True)
    for role, token in keys.items():
        click.secho(f"  key {role:<8} {token}   (header X-API-Key)", fg="green", err=True)
    if mlflow_url is not None:
        click.secho(f"  MLflow UI  {mlflow_url}", fg="green", err=True)
    click.secho(
        f"  webhook    {webhook_url} (HMAC-signed; warnings print below)\n  Ctrl-C stops.\n",
        fg="green",
        err=True,
    )


def _start_mlflow(settings: Settings, port: int) -> subprocess.Popen | None:
    if not _port_free(port):
        click.echo(f"  port {port} is busy; MLflow UI not started (--mlflow-port)", err=True)
        return None
    tracking = settings.tracking()
    cmd = [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        tracking.tracking_uri,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    log_file = (settings.home / "mlflow-ui.log").open("w")
    return subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT)


def _replay(
    api: str,
    keys: dict[str, str],
    held: Held,
    interval: float,
    server: uvicorn.Server,
    exit_after: bool,
) -> None:
    """Post the held-back observations and events (hotline calls, outages) step by step, like
    a live feed (with the ingest key), then print what the duty room saw (with the read
    key)."""
    feed = {"X-API-Key": keys["ingest"]}
    with httpx.Client(base_url=api, timeout=120, headers={"X-API-Key": keys["read"]}) as client:
        for _ in range(600):
            if server.started:
                break
            time.sleep(0.1)
        steps = _batches(held)
        for i, (step, (observations, events)) in enumerate(steps):
            for path, key, rows in (
                ("/v1/events", "events", events),
                ("/v1/observations", "observations", observations),
            ):
                if rows:
                    answer = client.post(path, json={key: rows}, headers=feed)
                    if answer.status_code == 202:
                        why = answer.json()["quarantined"]["reason"]
                        click.echo(f"  replay: batch held for review: {why}", err=True)
                    elif answer.status_code != 200:
                        click.echo(f"  replay: {answer.status_code} {answer.text[:200]}", err=True)
            if i % 6 == 0:
                open_now = client.get("/v1/warnings", params={"status": "open"}).json()
                local = step.astimezone(_zone()).strftime("%m-%d %H:%M")
                click.echo(
                    f"  replayed to {local} (Asia/Shanghai); open warnings: "
                    f"{_by_domain(open_now['warnings'])}",
                    err=True,
                )
            time.sleep(interval)
        click.echo("  replay finished; the API stays up (Ctrl-C stops)", err=True)
        _print_summary(client.get("/v1/warnings", params={"limit": 2000}).json()["warnings"])
        _print_scenario(client, keys["officer"])
    if exit_after:
        time.sleep(2.0)
        server.should_exit = True


SCENARIO = {
    "name": "鼓楼区3小时降雨100毫米 (100 mm in 3 h over Gulou), red rainstorm signal",
    "storms": [{"areas": ["gulou"], "mm": 100, "hours": 3, "signal": "red"}],
}


def _print_scenario(client: httpx.Client, officer_key: str) -> None:
    """A what-if for the planners: the storm scored through every champion, nothing written."""
    answer = client.post("/v1/scenarios", json=SCENARIO, headers={"X-API-Key": officer_key})
    if answer.status_code != 200:
        click.echo(f"  scenario: {answer.status_code} {answer.text[:200]}", err=True)
        return
    body = answer.json()
    click.secho(f"\n  what-if (POST /v1/scenarios): {body['name']}", fg="cyan", err=True)
    for domain, found in body["domains"].items():
        worst = found["targets"][0] if found["targets"] else None
        peak = (
            f"; worst {worst['label']} {worst['peak_value']:g} {found['unit'] or ''}"
            if worst
            else ""
        )
        click.echo(
            f"    {domain:<13} {found['targets_at_level']:>3} targets would be at a level{peak}",
            err=True,
        )
    words = {
        "joined": "would grow",
        "opened": "would open",
        "reopened": "would reopen",
        "escalated": "would escalate",
        "deescalated": "would ease",
        "closed": "would close",
    }
    for w in body["warnings"]:
        click.echo(f"    {words.get(w['action'], w['action'])}: {w['message_zh']}", err=True)
    if not body["warnings"]:
        click.echo("    no warning would open or change beyond those open now", err=True)
    click.echo(
        "    (nothing was written: store, forecasts and warnings are as they were)", err=True
    )


def _batches(held: Held) -> list[tuple[datetime, tuple[list[dict], list[dict]]]]:
    """The held-back rows as JSON bodies per 10-minute step, in time order."""
    out: dict[datetime, tuple[list[dict], list[dict]]] = {}
    for r in held.observations.iter_rows(named=True):
        row = {"series_id": r["series_id"], "ts": r["ts"].isoformat(), "value": r["value"]}
        out.setdefault(_ten_minutes(r["ts"]), ([], []))[0].append(row)
    for r in held.events.iter_rows(named=True):
        attrs = json.loads(r["attrs"]) if r["attrs"] else None
        event = r | {"ts": r["ts"].isoformat(), "attrs": attrs}
        out.setdefault(_ten_minutes(r["ts"]), ([], []))[1].append(event)
    return sorted(out.items())


def _ten_minutes(ts: datetime) -> datetime:
    return ts.replace(minute=ts.minute - ts.minute % 10, second=0, microsecond=0)


def _by_domain(warnings: list[dict[str, Any]]) -> str:
    counts: dict[str, int] = {}
    for w in warnings:
        counts[w["domain"]] = counts.get(w["domain"], 0) + 1
    return ", ".join(f"{d} {n}" for d, n in sorted(counts.items())) or "none"


def _print_summary(warnings: list[dict[str, Any]]) -> None:
    """Per domain: warnings by the most severe level each reached, the most targets one
    grouped, how many paged the next tier, reopened and closed."""
    click.secho(
        "\n  warnings of the replay, per domain (by the most severe level reached)", err=True
    )
    head = f"  {'domain':<13}{'blue':>6}{'yellow':>8}{'orange':>8}{'red':>6}{'targets':>9}"
    click.echo(f"{head}{'paged':>7}{'reopened':>10}{'closed':>8}", err=True)
    for domain in TASKS:
        mine = [w for w in warnings if w["domain"] == domain]
        peaks = [
            sum(w["peak_level"] == c for w in mine) for c in ("blue", "yellow", "orange", "red")
        ]
        click.echo(
            f"  {domain:<13}{peaks[0]:>6}{peaks[1]:>8}{peaks[2]:>8}{peaks[3]:>6}"
            f"{max((len(w['targets']) for w in mine), default=0):>9}"
            f"{sum(w['tier'] > 0 for w in mine):>7}{sum(w['reopened'] for w in mine):>10}"
            f"{sum(w['status'] == 'closed' for w in mine):>8}",
            err=True,
        )


def _zone() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(LOCAL_TZ)
