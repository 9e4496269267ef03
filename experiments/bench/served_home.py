"""What the service benchmarks share: a free port, ``citybrain serve`` over a trained home's
data (a private copy) in its own process, waiting until it answers, and recording results."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def trained_home(home: Path) -> Path:
    """``home`` resolved, once it holds what ``scripts/demo`` leaves: a trained city."""
    home = home.resolve()
    if not (home / "mlflow.db").exists() or not (home / "data").exists():
        raise SystemExit(f"{home} holds no trained city; run scripts/demo first (or --home)")
    return home


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_up(url: str, proc: subprocess.Popen, seconds: float = 180) -> None:
    """Until ``url`` answers 200; stops the bench if the process exits or time runs out."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited early (code {proc.returncode}); see its log")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{url} did not answer within {seconds:.0f} s")


def serve(data: Path, port: int, env: dict[str, str], log: Path) -> subprocess.Popen:
    """``citybrain serve`` on ``port`` over ``data`` (its settings in ``env``), its log to a
    file (a pipe nobody reads would fill and stop it)."""
    with log.open("wb") as out:  # the child keeps its own copy of the file
        return subprocess.Popen(
            [sys.executable, "-m", "serving", "serve", "--port", str(port), "--data", str(data)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def record(text: str, path: Path, *, keep: bool) -> None:
    """Print the results and, unless told not to, keep them in ``path``."""
    print(text)
    if keep:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"recorded in {path}", file=sys.stderr)
