"""The README's picture of the dashboard: the page over a trained home, in Chinese and English.

Serves the home (as ``scripts/demo`` leaves ``.citybrain``, its four tasks and its warnings) in
a ``citybrain serve`` process of its own, opens the page in Debian's headless Chromium with a
read key made for the purpose (revoked afterwards), waits for it to draw, and saves a
full-page PNG per language. Fails when the page logs a console error.

    .venv/bin/python experiments/dashboard_screenshot.py --home .citybrain --out docs
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from serving import KeyStore

# after the packages: the benches' folder holds a features.py of its own
sys.path.append(str(Path(__file__).resolve().parent / "bench"))
from served_home import free_port, serve, trained_home, wait_until_up

TASKS = "waterlogging,rivers,hotline,traffic"
CHROMIUM = "/usr/bin/chromium"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=Path(".citybrain"))
    parser.add_argument("--out", type=Path, default=Path("docs"))
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    args = parser.parse_args()
    home = trained_home(args.home)
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"no browser at {CHROMIUM}: apt-get install -y chromium fonts-noto-cjk")
    keys = KeyStore(f"sqlite:///{home / 'warnings.db'}")
    key, token = keys.create("dashboard screenshot", ["read"])
    port = free_port()
    env = {**os.environ, "CITYBRAIN_HOME": str(home), "CITYBRAIN_TASKS": TASKS}
    env["CITYBRAIN_CHAMPION_POLL_S"] = "3600"
    log = Path(tempfile.mkstemp(prefix="citybrain-screenshot-", suffix=".log")[1])
    server = serve(home / "data", port, env, log)
    errors: list[str] = []
    try:
        base = f"http://127.0.0.1:{port}"
        print(f"serving {home} on {base} (log {log}) ...", file=sys.stderr)
        wait_until_up(f"{base}/readyz", server)
        args.out.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM)
            for lang in ("zh", "en"):
                page = browser.new_page(viewport={"width": args.width, "height": args.height})
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                page.goto(f"{base}/#key={token}")
                page.wait_for_selector("body[data-ready='1']", timeout=30_000)
                if lang == "en":
                    page.click("button[data-lang='en']")
                    page.wait_for_function("() => document.documentElement.lang === 'en'")
                time.sleep(2.0)  # the charts' entry animations
                shot = args.out / f"dashboard-{lang}.png"
                page.screenshot(path=str(shot), full_page=True)
                print(f"  saved {shot}", file=sys.stderr)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=20)
        keys.revoke(key.id)
        keys.dispose()
    if errors:
        raise SystemExit(f"the page logged console errors: {errors[:5]}")


if __name__ == "__main__":
    main()
