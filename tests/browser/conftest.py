"""The dashboard in a real browser: Debian's Chromium driven by Playwright (never a browser of
Playwright's own), against ``citybrain serve`` as a real process over the ``trained`` city.

One server and one Chromium per module; each test gets a fresh browser context (its own
localStorage, so keys never leak between tests). Screenshots go to ``$CITYBRAIN_SCREENSHOTS``
or ``tests/browser/screenshots`` (ignored by git).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest
from live_server import live_server, role_keys

from features import Store

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(os.environ.get("CITYBRAIN_SCREENSHOTS", Path(__file__).parent / "screenshots"))
ROLE_NAMES = {"read": "screen reader", "ingest": "storm feed", "officer": "duty officer"}
# the server starts this long before the trained city's cut, while the storm is still far
# off and nothing is at a level; the hours after it are the storm the tests post
QUIET_LEAD = timedelta(hours=10)


@pytest.fixture(scope="session")
def shots() -> Path:
    """Where the screenshots go (made when asked for)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright through ``executable_path`` (Playwright
    never downloads a browser here); the module skips, saying why, where there is none."""
    if not CHROMIUM.exists():
        pytest.skip(f"no browser at {CHROMIUM} (apt-get install -y chromium; .ci/run does)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def served(
    browser: Any, trained: dict, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """The trained city served by a real process from before its storm, with a key per role
    made before it starts; ``storm`` is what is left to post (the storm test posts it and
    keeps the warning it opened in ``state`` for the tests after it). ``browser`` comes first:
    without one the module skips before anything is trained."""
    work = tmp_path_factory.mktemp("dashboard")
    observations = Store(trained["data"]).read("observations")
    until = observations["ts"].max() - QUIET_LEAD
    storm = pl.concat([observations.filter(pl.col("ts") > until), trained["held"]])
    ledger = f"sqlite:///{work / 'warnings.db'}"
    keys = role_keys(ledger, ROLE_NAMES)
    with live_server(
        home=trained["home"],
        city=trained["data"],
        workdir=work,
        tasks=[trained["task"]],
        ledger_url=ledger,
        until=until,
    ) as (client, _receiver):
        base = str(client.base_url).rstrip("/")
        with httpx.Client(base_url=base, timeout=60, headers={"X-API-Key": keys["read"]}) as reader:
            yield {
                "base": base,
                "keys": keys,
                "admin": client,
                "api": reader,
                "storm": storm.select("series_id", "ts", "value"),
                "state": {},
            }


@pytest.fixture
def page(
    browser: Any, served: dict[str, Any], shots: Path, request: pytest.FixtureRequest
) -> Iterator[Any]:
    """A fresh tab at 1920 x 1080 in a browser whose own zone is UTC (the page must still show
    Beijing time); console errors and every requested address are kept on the page."""
    context = browser.new_context(
        viewport={"width": 1920, "height": 1080}, locale="zh-CN", timezone_id="UTC"
    )
    tab = context.new_page()
    tab.console_errors = []
    tab.requested = []
    tab.on("console", lambda m: tab.console_errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: tab.console_errors.append(str(e)))
    tab.on("request", lambda r: tab.requested.append(r.url))
    yield tab
    tab.screenshot(path=str(shots / f"{request.node.name}.png"), full_page=True)
    context.close()
